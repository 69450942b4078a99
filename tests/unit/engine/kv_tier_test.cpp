// The KV tiers on their own: LRU order and budgets of the host tier, and the disk tier's
// files: found again by a new instance (a restart), never read when foreign, corrupt,
// truncated, deleted or half-written.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/engine/disk_kv_tier.h"
#include "daemon/engine/host_kv_tier.h"
#include "daemon/engine/kv_tier_stack.h"

namespace mm {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kPayload = 1000;  // not a multiple of the checksum's 32-byte stride

std::vector<std::byte> payload_of(int seed, size_t size = kPayload) {
  std::vector<std::byte> out(size);
  for (size_t i = 0; i < size; ++i)
    out[i] = static_cast<std::byte>((seed * 131 + i * 7) & 0xff);
  return out;
}

BlockHash key_of(uint64_t i) {
  return BlockHash{0x1234 + i, 0xABCD00 + i * 3};
}

constexpr BlockHash kModel{0xF1, 0xF2};

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/mmd-kv-tier-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

DiskKvTierOptions disk_options(const fs::path& dir, uint64_t num_files,
                               BlockHash fingerprint = kModel, uint64_t payload = kPayload) {
  return DiskKvTierOptions{.dir = dir / "cache",
                           .budget_bytes = num_files * (DiskKvTier::kHeaderBytes + payload),
                           .fingerprint = fingerprint,
                           .payload_bytes = payload};
}

int num_files(const fs::path& dir) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    n += entry.is_regular_file() ? 1 : 0;
  return n;
}

TEST(HostKvTier, EvictsLeastRecentlyUsedToTheNextTierWithinItsBudget) {
  std::vector<BlockHash> evicted;
  HostKvTier tier(3 * kPayload, [&](const BlockHash& key, std::span<const std::byte>) {
    evicted.push_back(key);
  });
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(tier.put(key_of(i), payload_of(i)));
  std::vector<std::byte> out(kPayload);
  ASSERT_TRUE(tier.get(key_of(0), out));  // 0 becomes the most recently used
  EXPECT_EQ(out, payload_of(0));
  EXPECT_EQ(tier.lru_order(), (std::vector<BlockHash>{key_of(1), key_of(2), key_of(0)}));
  EXPECT_TRUE(tier.put(key_of(3), payload_of(3)));
  EXPECT_EQ(evicted, (std::vector<BlockHash>{key_of(1)}));
  EXPECT_EQ(tier.lru_order(), (std::vector<BlockHash>{key_of(2), key_of(0), key_of(3)}));
  EXPECT_FALSE(tier.contains(key_of(1)));
  EXPECT_FALSE(tier.get(key_of(1), out));
  const KvTierStats stats = tier.stats();
  EXPECT_EQ(stats.num_blocks, 3u);
  EXPECT_EQ(stats.num_bytes, 3 * kPayload);
  EXPECT_EQ(stats.hits_total, 1u);
  EXPECT_EQ(stats.stores_total, 4u);
  EXPECT_EQ(stats.evictions_total, 1u);
}

TEST(HostKvTier, BudgetZeroKeepsNothing) {
  HostKvTier tier(0);
  EXPECT_FALSE(tier.put(key_of(0), payload_of(0)));
  EXPECT_FALSE(tier.contains(key_of(0)));
  EXPECT_EQ(tier.stats().num_bytes, 0u);
}

TEST(HostKvTier, AWrongSizedReadIsAMiss) {
  HostKvTier tier(10 * kPayload);
  ASSERT_TRUE(tier.put(key_of(0), payload_of(0)));
  std::vector<std::byte> small(kPayload - 1);
  EXPECT_FALSE(tier.get(key_of(0), small));
}

TEST(KvPayloadChecksum, SeesAFlippedBitAnywhereAndTheLength) {
  const auto base = payload_of(5);
  const uint64_t sum = kv_payload_checksum(base);
  for (size_t i : {size_t{0}, size_t{31}, size_t{500}, kPayload - 1}) {
    auto flipped = base;
    flipped[i] ^= std::byte{0x10};
    EXPECT_NE(kv_payload_checksum(flipped), sum) << i;
  }
  EXPECT_NE(kv_payload_checksum(std::span(base).first(kPayload - 1)), sum);
  EXPECT_NE(kv_payload_checksum(base, 1), sum);
}

TEST(DiskKvTier, ANewInstanceFindsWhatTheLastOneWrote) {
  TempDir dir;
  {
    DiskKvTier tier(disk_options(dir.path(), 10));
    for (int i = 0; i < 4; ++i)
      EXPECT_TRUE(tier.put(key_of(i), payload_of(i)));
    std::vector<std::byte> out(kPayload);
    EXPECT_TRUE(tier.contains(key_of(2)));  // queued or written: readable either way
    ASSERT_TRUE(tier.get(key_of(2), out));
    EXPECT_EQ(out, payload_of(2));
    tier.flush();
    EXPECT_EQ(num_files(dir.path() / "cache"), 4);
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  DiskKvTier again(disk_options(dir.path(), 10));
  EXPECT_EQ(again.stats().num_blocks, 4u);
  for (int i = 0; i < 4; ++i) {
    std::vector<std::byte> out(kPayload);
    ASSERT_TRUE(again.get(key_of(i), out)) << i;
    EXPECT_EQ(out, payload_of(i));
  }
  EXPECT_FALSE(again.contains(key_of(9)));
}

TEST(DiskKvTier, HoldsItsBudgetLeastRecentlyUsedFirst) {
  TempDir dir;
  DiskKvTier tier(disk_options(dir.path(), 3));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tier.put(key_of(i), payload_of(i)));
    tier.flush();
  }
  std::vector<std::byte> out(kPayload);
  ASSERT_TRUE(tier.get(key_of(0), out));  // 1 is now the oldest
  ASSERT_TRUE(tier.put(key_of(3), payload_of(3)));
  tier.flush();
  EXPECT_EQ(num_files(dir.path() / "cache"), 3);
  EXPECT_FALSE(tier.contains(key_of(1)));
  EXPECT_FALSE(fs::exists(tier.file_of(key_of(1))));
  EXPECT_TRUE(tier.contains(key_of(0)));
  EXPECT_LE(tier.stats().num_bytes, 3 * tier.file_bytes());
  EXPECT_EQ(tier.stats().evictions_total, 1u);
}

TEST(DiskKvTier, BudgetZeroWritesNothingAnywhere) {
  TempDir dir;
  DiskKvTier tier(disk_options(dir.path(), 0));
  EXPECT_FALSE(tier.put(key_of(0), payload_of(0)));
  tier.flush();
  EXPECT_FALSE(fs::exists(dir.path() / "cache"));
}

TEST(DiskKvTier, AnotherModelsOrAnotherSizesFilesAreDeletedNotRead) {
  TempDir dir;
  {
    DiskKvTier tier(disk_options(dir.path(), 10));
    ASSERT_TRUE(tier.put(key_of(0), payload_of(0)));
  }
  {
    // Another fingerprint (checkpoint, block size, KV dtype...): the file is deleted.
    DiskKvTier other(disk_options(dir.path(), 10, BlockHash{0xF1, 0xF3}));
    EXPECT_FALSE(other.contains(key_of(0)));
    EXPECT_EQ(other.stats().rejected_total, 1u);
    EXPECT_EQ(num_files(dir.path() / "cache"), 0);
    ASSERT_TRUE(other.put(key_of(0), payload_of(0)));
  }
  DiskKvTier bigger(disk_options(dir.path(), 10, BlockHash{0xF1, 0xF3}, kPayload * 2));
  EXPECT_FALSE(bigger.contains(key_of(0)));
  EXPECT_EQ(num_files(dir.path() / "cache"), 0);
}

TEST(DiskKvTier, FlippedTruncatedOrDeletedFilesFallBackToAMiss) {
  TempDir dir;
  DiskKvTier tier(disk_options(dir.path(), 10));
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(tier.put(key_of(i), payload_of(i)));
  tier.flush();
  {  // a flipped payload byte
    std::fstream f(tier.file_of(key_of(0)), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(DiskKvTier::kHeaderBytes + 400);
    f.put('\x5a');
  }
  {  // a flipped header byte (the key)
    std::fstream f(tier.file_of(key_of(1)), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\x01');
  }
  fs::resize_file(tier.file_of(key_of(2)), DiskKvTier::kHeaderBytes + kPayload / 2);
  fs::remove(tier.file_of(key_of(3)));
  for (int i = 0; i < 4; ++i) {
    std::vector<std::byte> out(kPayload);
    EXPECT_TRUE(tier.contains(key_of(i)));
    EXPECT_FALSE(tier.get(key_of(i), out)) << i;
    EXPECT_FALSE(tier.contains(key_of(i))) << i;
    EXPECT_FALSE(fs::exists(tier.file_of(key_of(i)))) << i;
  }
  EXPECT_EQ(tier.stats().rejected_total, 4u);
  EXPECT_EQ(tier.stats().num_blocks, 0u);
}

TEST(DiskKvTier, AStartDeletesHalfWrittenAndTruncatedFiles) {
  TempDir dir;
  BlockHash truncated_key = key_of(1);
  fs::path truncated;
  {
    DiskKvTier tier(disk_options(dir.path(), 10));
    ASSERT_TRUE(tier.put(key_of(0), payload_of(0)));
    ASSERT_TRUE(tier.put(truncated_key, payload_of(1)));
    tier.flush();
    truncated = tier.file_of(truncated_key);
  }
  // What a daemon killed mid-write leaves: a temporary file (even one holding a whole block).
  fs::copy_file(truncated, dir.path() / "cache" / ".tmp-x-1-0");
  fs::resize_file(truncated, 100);
  DiskKvTier tier(disk_options(dir.path(), 10));
  EXPECT_TRUE(tier.contains(key_of(0)));
  EXPECT_FALSE(tier.contains(truncated_key));
  EXPECT_EQ(num_files(dir.path() / "cache"), 1);
}

TEST(DiskKvTier, ClearDeletesEveryFile) {
  TempDir dir;
  DiskKvTier tier(disk_options(dir.path(), 10));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(tier.put(key_of(i), payload_of(i)));
  tier.clear();
  tier.flush();
  EXPECT_EQ(num_files(dir.path() / "cache"), 0);
  EXPECT_EQ(tier.stats().num_blocks, 0u);
  EXPECT_FALSE(tier.contains(key_of(0)));
}

TEST(DiskKvTier, RefusesAFolderOthersCanWrite) {
  TempDir dir;
  const fs::path cache = dir.path() / "cache";
  ASSERT_EQ(::mkdir(cache.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(cache.c_str(), 0777), 0);
  try {
    DiskKvTier tier(disk_options(dir.path(), 10));
    FAIL() << "a world-writable folder was accepted";
  } catch (const KvTierError& error) {
    EXPECT_NE(std::string(error.what()).find("writable by other users"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find(cache.string()), std::string::npos);
  }
}

TEST(DiskKvTier, AFullWriteQueueDropsInsteadOfWaiting) {
  TempDir dir;
  DiskKvTierOptions options = disk_options(dir.path(), 100);
  options.max_pending_bytes = kPayload;  // room for one queued copy
  DiskKvTier tier(options);
  int kept = 0;
  for (int i = 0; i < 50; ++i)
    kept += tier.put(key_of(i), payload_of(i)) ? 1 : 0;
  tier.flush();
  EXPECT_GE(kept, 1);
  EXPECT_EQ(tier.stats().num_blocks, static_cast<uint64_t>(kept));
  EXPECT_EQ(tier.stats().dropped_total, static_cast<uint64_t>(50 - kept));
  for (int i = 0; i < 50; ++i)
    EXPECT_TRUE(tier.put_waiting(key_of(100 + i), payload_of(i)));  // never drops
  tier.flush();
  EXPECT_EQ(tier.stats().num_blocks, static_cast<uint64_t>(kept + 50));
}

TEST(KvTierStack, HostOverflowMovesToDiskAndSpillEmptiesTheHost) {
  TempDir dir;
  KvTierOptions options{.host_budget_bytes = 2 * kPayload,
                        .disk_budget_bytes = 10 * (DiskKvTier::kHeaderBytes + kPayload),
                        .disk_dir = dir.path() / "cache"};
  KvTierStack tiers(options, kModel, kPayload);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(tiers.put(key_of(i), payload_of(i)));
  tiers.flush_disk();
  auto stats = tiers.tier_stats();
  EXPECT_EQ(stats[0].num_blocks, 2u);  // host: 1 and 2
  EXPECT_EQ(stats[1].num_blocks, 1u);  // disk: 0, the oldest
  std::vector<std::byte> out(kPayload);
  ASSERT_TRUE(tiers.get(key_of(0), out));
  EXPECT_EQ(out, payload_of(0));
  tiers.spill_host_to_disk();
  tiers.flush_disk();
  stats = tiers.tier_stats();
  EXPECT_EQ(stats[0].num_blocks, 0u);
  EXPECT_EQ(stats[1].num_blocks, 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(tiers.contains(key_of(i)));
  tiers.clear();
  tiers.flush_disk();
  EXPECT_FALSE(tiers.contains(key_of(1)));
  EXPECT_EQ(num_files(dir.path() / "cache"), 0);
}

}  // namespace
}  // namespace mm
