// The KV tiers through the real mmd binary on the tiny checkpoint (issue 18): a prefix kept on
// disk survives a restart and a sleep, and greedy outputs with the restored prefix are
// bit-identical to a cold run; a cache of another checkpoint, block size or KV dtype is never
// used; damaged, truncated or deleted files fall back to recompute; the disk budget holds; a
// daemon killed mid-write leaves nothing that is read later.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "client/libmmclient/mmclient.h"
#include "tests/integration/daemon/daemon_process.h"

namespace mm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::DaemonProcess;

constexpr auto kReadyTimeout = 60s;
constexpr uint64_t kDiskBudget = 64ull << 20;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/mmd-kv-daemon-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path cache() const { return path_ / "kv-cache"; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<int32_t> prompt_of(int length, int32_t seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>((seed * 37 + i * 11 + i * i) % 250 + 3));
  return out;
}

struct Reply {
  std::vector<int32_t> tokens;
  int cached_prompt_tokens = -1;
};

Reply generate(const DaemonProcess& daemon, const std::vector<int32_t>& prompt) {
  client::ConnectOptions options;
  options.socket_path = daemon.socket_path();
  options.client_name = "kv_tier_daemon_test";
  auto client = client::Client::connect(options);
  ipc::Submit submit;
  submit.prompt_token_ids = prompt;
  submit.sampling.temperature = 0.0f;
  submit.sampling.max_tokens = 12;
  submit.sampling.ignore_eos = true;
  Reply reply;
  const uint64_t id = client->submit(submit);
  const client::Outcome outcome = client->stream(
      id,
      [&](const ipc::Delta& d) {
        reply.tokens.insert(reply.tokens.end(), d.token_ids.begin(), d.token_ids.end());
      },
      60s);
  EXPECT_TRUE(outcome.ok) << outcome.error.message;
  reply.cached_prompt_tokens = outcome.finished.usage.cached_prompt_tokens;
  return reply;
}

std::vector<std::string> tier_args(const TempDir& dir, uint64_t disk_budget = kDiskBudget) {
  return {"--kv-disk-cache-bytes", std::to_string(disk_budget), "--kv-disk-cache-dir",
          dir.cache().string()};
}

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Files {
  int num_blocks = 0;  // whole block files
  int num_temp = 0;    // .tmp- files
  uint64_t num_bytes = 0;
  std::vector<fs::path> blocks;
};

Files files_in(const fs::path& dir) {
  Files out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".tmp-", 0) == 0) ++out.num_temp;
    if (entry.path().extension() == ".kvb") {
      ++out.num_blocks;
      out.num_bytes += fs::file_size(entry.path());
      out.blocks.push_back(entry.path());
    }
  }
  std::sort(out.blocks.begin(), out.blocks.end());
  return out;
}

// Sleep is acknowledged before it happens: wait until the status says so.
void sleep_and_wait(client::Client& client, int level) {
  client.sleep(level);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  ipc::StatusReply status = client.status();
  while ((status.state != "sleeping" || status.sleep_level != level) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    status = client.status();
  }
  ASSERT_EQ(status.state, "sleeping");
}

void stop(DaemonProcess& daemon) {
  daemon.send_signal(SIGTERM);
  ASSERT_EQ(daemon.wait_exit(30s), 0) << daemon.log();
}

// One cold reply of `prompt` from a daemon with no tiers at all (the reference).
Reply cold_reference(const std::vector<int32_t>& prompt) {
  DaemonProcess daemon({"--kv-host-cache-bytes", "0"});
  EXPECT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  Reply reply = generate(daemon, prompt);
  EXPECT_EQ(reply.cached_prompt_tokens, 0);
  return reply;
}

TEST(KvTierDaemon, ARestartFindsThePrefixOnDiskAndRepliesBitIdentically) {
  TempDir dir;
  const auto prompt = prompt_of(301, 1);  // 75 full blocks of 4 tokens
  const Reply cold = cold_reference(prompt);
  {
    DaemonProcess first(tier_args(dir));
    ASSERT_TRUE(first.wait_for_notification("READY=1", kReadyTimeout)) << first.log();
    EXPECT_EQ(generate(first, prompt).tokens, cold.tokens);
    stop(first);  // the pool's blocks go to disk before it exits
  }
  const Files after_stop = files_in(dir.cache());
  EXPECT_GE(after_stop.num_blocks, 75);
  EXPECT_EQ(after_stop.num_temp, 0);
  struct stat st {};
  ASSERT_EQ(::stat(dir.cache().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  DaemonProcess second(tier_args(dir));
  ASSERT_TRUE(second.wait_for_notification("READY=1", kReadyTimeout)) << second.log();
  const Reply warm = generate(second, prompt);
  EXPECT_EQ(warm.cached_prompt_tokens, 300) << "the whole prefix should come from disk";
  EXPECT_EQ(warm.tokens, cold.tokens);
  // A longer prompt sharing the prefix: restored prefix, computed rest, same as cold.
  auto longer = prompt;
  for (int32_t t : prompt_of(40, 9))
    longer.push_back(t);
  const Reply longer_cold = cold_reference(longer);
  stop(second);
  DaemonProcess third(tier_args(dir));
  ASSERT_TRUE(third.wait_for_notification("READY=1", kReadyTimeout)) << third.log();
  const Reply longer_warm = generate(third, longer);
  EXPECT_GE(longer_warm.cached_prompt_tokens, 300);
  EXPECT_EQ(longer_warm.tokens, longer_cold.tokens);
}

TEST(KvTierDaemon, SleepLevelsKeepTheirTiers) {
  TempDir dir;
  const auto prompt = prompt_of(201, 2);
  const Reply cold = cold_reference(prompt);
  DaemonProcess daemon(tier_args(dir));
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  client::ConnectOptions options;
  options.socket_path = daemon.socket_path();
  auto client = client::Client::connect(options);
  EXPECT_EQ(generate(daemon, prompt).tokens, cold.tokens);
  for (int level : {1, 2}) {
    sleep_and_wait(*client, level);
    if (level == 2) {
      // Level 2 drops host memory: the blocks are on disk now (written in the background).
      for (int i = 0; i < 200 && files_in(dir.cache()).num_blocks < 50; ++i)
        std::this_thread::sleep_for(10ms);
      EXPECT_GE(files_in(dir.cache()).num_blocks, 50) << daemon.log();
    }
    const Reply warm = generate(daemon, prompt);  // wakes it
    EXPECT_EQ(warm.cached_prompt_tokens, 200) << "level " << level;
    EXPECT_EQ(warm.tokens, cold.tokens) << "level " << level;
  }
}

TEST(KvTierDaemon, ACacheOfAnotherBlockSizeDtypeOrCheckpointIsNeverUsed) {
  TempDir dir;
  const auto prompt = prompt_of(201, 3);
  {
    DaemonProcess first(tier_args(dir));
    ASSERT_TRUE(first.wait_for_notification("READY=1", kReadyTimeout)) << first.log();
    generate(first, prompt);
    stop(first);
  }
  ASSERT_GE(files_in(dir.cache()).num_blocks, 50);
  const std::vector<std::vector<std::string>> others = {
      {"--kv-block-size", "8"},
      {"--kv-cache-dtype", "bfloat16"},
      {"--model", std::string(MMD_FIXTURE_DIR) + "/tiny-bf16-w4a16-g32-lastbf16"}};
  for (const auto& other : others) {
    // Put the first model's files back each time: each other model must refuse them.
    {
      DaemonProcess again(tier_args(dir));
      ASSERT_TRUE(again.wait_for_notification("READY=1", kReadyTimeout)) << again.log();
      generate(again, prompt);
      stop(again);
    }
    ASSERT_GE(files_in(dir.cache()).num_blocks, 50);
    DaemonProcess daemon(plus(tier_args(dir), other));
    ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
    EXPECT_EQ(files_in(dir.cache()).num_blocks, 0) << other[0] << ": foreign files not deleted";
    EXPECT_EQ(generate(daemon, prompt).cached_prompt_tokens, 0) << other[0];
    stop(daemon);
  }
}

TEST(KvTierDaemon, DamagedTruncatedAndDeletedFilesFallBackToRecompute) {
  TempDir dir;
  const auto prompt = prompt_of(201, 4);
  const Reply cold = cold_reference(prompt);
  {
    DaemonProcess first(tier_args(dir));
    ASSERT_TRUE(first.wait_for_notification("READY=1", kReadyTimeout)) << first.log();
    generate(first, prompt);
    stop(first);
  }
  Files files = files_in(dir.cache());
  ASSERT_GE(files.num_blocks, 50);
  // Every file damaged one way or another: a flipped payload byte, a flipped header byte, a
  // truncation; the ones that pass the start's header check fail the checksum on read.
  for (size_t i = 0; i < files.blocks.size(); ++i) {
    const fs::path& file = files.blocks[i];
    if (i % 3 == 2) {
      fs::resize_file(file, fs::file_size(file) - 7);
      continue;
    }
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(i % 3 == 0 ? 64 + 123 : 20);
    const char c = static_cast<char>(f.get());
    f.seekp(i % 3 == 0 ? 64 + 123 : 20);
    f.put(static_cast<char>(c ^ 0x40));
  }
  DaemonProcess second(tier_args(dir));
  ASSERT_TRUE(second.wait_for_notification("READY=1", kReadyTimeout)) << second.log();
  const Reply damaged = generate(second, prompt);
  EXPECT_EQ(damaged.tokens, cold.tokens);
  EXPECT_EQ(damaged.cached_prompt_tokens, 0);
  stop(second);

  // Deleted while the daemon runs (after its start indexed them).
  DaemonProcess third(tier_args(dir));
  ASSERT_TRUE(third.wait_for_notification("READY=1", kReadyTimeout)) << third.log();
  files = files_in(dir.cache());
  ASSERT_GE(files.num_blocks, 50);
  for (size_t i = 0; i < files.blocks.size(); i += 2)
    fs::remove(files.blocks[i]);
  const Reply deleted = generate(third, prompt);
  EXPECT_EQ(deleted.tokens, cold.tokens);
  EXPECT_LT(deleted.cached_prompt_tokens, 200);
}

TEST(KvTierDaemon, TheDiskBudgetHolds) {
  TempDir dir;
  // Room for 20 block files of this model (2 layers x K,V x 4 tokens x 2 heads x 64 x f32 =
  // 8 KiB of payload, + 16 bytes of scales, + the 64-byte header).
  const uint64_t file_bytes = 2 * 2 * 4 * 2 * 64 * 4 + 2 * 2 * 4 + 64;
  const uint64_t budget = 20 * file_bytes;
  DaemonProcess daemon(tier_args(dir, budget));
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  for (int seed = 10; seed < 14; ++seed)
    generate(daemon, prompt_of(201, seed));
  stop(daemon);
  const Files files = files_in(dir.cache());
  EXPECT_EQ(files.num_blocks, 20);
  EXPECT_LE(files.num_bytes, budget);
}

TEST(KvTierDaemon, ADaemonKilledMidWriteLeavesNothingThatIsReadLater) {
  TempDir dir;
  const auto prompt = prompt_of(301, 5);
  const Reply cold = cold_reference(prompt);
  for (int round = 0; round < 3; ++round) {
    DaemonProcess daemon(tier_args(dir));
    ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
    generate(daemon, prompt);
    for (int seed = 20; seed < 23; ++seed)
      generate(daemon, prompt_of(301, seed + round * 3));
    client::ConnectOptions options;
    options.socket_path = daemon.socket_path();
    auto client = client::Client::connect(options);
    // Sleep level 2 queues every block for the disk; kill the daemon while it writes.
    client->sleep(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(round * 2));
    daemon.send_signal(SIGKILL);
    daemon.wait_exit(10s);
  }
  DaemonProcess daemon(tier_args(dir));
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  EXPECT_EQ(files_in(dir.cache()).num_temp, 0) << "a half-written file survived the start";
  const Reply reply = generate(daemon, prompt);
  EXPECT_EQ(reply.tokens, cold.tokens);
}

TEST(KvTierDaemon, AFolderOthersCanWriteIsRefusedWithItsName) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.cache().c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.cache().c_str(), 0777), 0);
  DaemonProcess daemon(tier_args(dir));
  // The load fails naming the folder; the daemon stays up to report it (status, log).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string log = daemon.log();
  while (log.find("writable by other users") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    log = daemon.log();
  }
  EXPECT_NE(log.find("writable by other users"), std::string::npos) << log;
  EXPECT_NE(log.find(dir.cache().string()), std::string::npos) << log;
  EXPECT_EQ(daemon.find_notification("READY=1"), -1);
}

}  // namespace
}  // namespace mm
