// The KV cache takes memory only for the blocks written, and gives it back on discard.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "daemon/model/kv_cache.h"
#include "kernels/cpu/cpu_backend.h"

namespace mm {
namespace {

// Pages of [data, data + bytes) resident in memory, from mincore(2).
size_t resident_pages(const void* data, size_t bytes) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<uintptr_t>(data) / page * page;
  const size_t length = reinterpret_cast<uintptr_t>(data) + bytes - base;
  std::vector<unsigned char> residency((length + page - 1) / page);
  EXPECT_EQ(::mincore(reinterpret_cast<void*>(base), length, residency.data()), 0);
  size_t count = 0;
  for (unsigned char r : residency)
    count += r & 1;
  return count;
}

TEST(KvCacheMemory, CommittedOnWriteAndReleasedOnDiscard) {
  CpuBackend backend(1, CpuIsa::kScalar);
  // One layer, 1024 blocks of 16 tokens x 2 heads x 64 f32 = 8 KiB per block: 8 MiB per k/v.
  KvCacheShape shape{
      .num_layers = 1, .num_blocks = 1024, .block_size = 16, .num_kv_heads = 2, .head_dim = 64};
  KvCache cache(backend, shape, KvDType::kF32, {}, {});
  const KvLayerView layer = cache.layer(0);
  const size_t bytes = 1024 * 8192;
  EXPECT_LT(resident_pages(layer.k, bytes), 16u);  // reserved, not committed
  std::memset(layer.k, 1, 512 * 8192);             // blocks 0-511 written
  const size_t written = resident_pages(layer.k, bytes);
  EXPECT_GE(written, 512 * 8192 / static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_GE(cache.discard_blocks(256, 768), 256u * 8192);
  const size_t after = resident_pages(layer.k, bytes);
  EXPECT_LE(after, written - 256 * 8192 / static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
  // Discarded blocks read as zeros; kept ones keep their bytes.
  EXPECT_EQ(static_cast<const unsigned char*>(layer.k)[300 * 8192], 0);
  EXPECT_EQ(static_cast<const unsigned char*>(layer.k)[100 * 8192], 1);
}

}  // namespace
}  // namespace mm
