// The paged KV cache storage of every layer: k and v are [num_blocks, block_size, num_kv_heads,
// head_dim] per layer, in F32 (exact, for tests), BF16, or FP8 E4M3 with one f32 scale per
// (layer, K/V) — the checkpoint's calibrated k_scale / v_scale, 1.0 when it has none.
// Which blocks belong to which sequence is the block pool's business (daemon/engine), not this
// class's. Owned by the model runner; used on the runner thread only.
#pragma once

#include <cstdint>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/backend.h"

namespace mm {

struct KvCacheShape {
  int64_t num_layers = 0;
  int64_t num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
};

// The --kv-cache-dtype spelling of a cache dtype: "float32", "bfloat16" or "fp8_e4m3".
std::string_view kv_cache_dtype_name(KvDType dtype);

class KvCache {
 public:
  // k_scales / v_scales: one per layer (FP8 only; ignored otherwise). Throws std::bad_alloc.
  KvCache(Backend& backend, const KvCacheShape& shape, KvDType dtype, std::vector<float> k_scales,
          std::vector<float> v_scales);

  KvLayerView layer(int64_t index) const;
  const KvCacheShape& shape() const { return shape_; }
  KvDType dtype() const { return dtype_; }
  uint64_t num_bytes() const;  // all layers, k and v
  // The blocks [first_block, first_block + num_blocks) hold nothing anyone needs (the pool
  // gave them back): their memory returns to the system and they read as zeros. Returns the
  // bytes released.
  uint64_t discard_blocks(int64_t first_block, int64_t num_blocks);
  uint64_t bytes_per_token() const;

  // One block of every layer as the KV tiers keep it (daemon/engine/kv_tier.h): per layer its
  // K then its V block ([block_size, num_kv_heads, head_dim] of the dtype), then the K scales
  // and the V scales (f32 [num_layers] each).
  uint64_t block_payload_bytes() const;
  void read_block(int64_t block, std::span<std::byte> payload) const;
  // Writes a payload read_block made back into `block`. False, writing nothing, when its size
  // or its scales are not this cache's (a payload of another calibration).
  bool write_block(int64_t block, std::span<const std::byte> payload);

 private:
  size_t block_bytes() const;
  KvCacheShape shape_;
  KvDType dtype_;
  std::vector<float> k_scales_, v_scales_;
  std::vector<std::unique_ptr<Buffer>> k_, v_;
  Backend* backend_;  // copies blocks in and out for the KV tiers
};

}  // namespace mm
