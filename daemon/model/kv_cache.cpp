#include "daemon/model/kv_cache.h"

#include <cstring>

namespace mm {

std::string_view kv_cache_dtype_name(KvDType dtype) {
  switch (dtype) {
    case KvDType::kF32:
      return "float32";
    case KvDType::kBf16:
      return "bfloat16";
    case KvDType::kFp8E4M3:
      return "fp8_e4m3";
  }
  return "?";
}

KvCache::KvCache(Backend& backend, const KvCacheShape& shape, KvDType dtype,
                 std::vector<float> k_scales, std::vector<float> v_scales)
    : shape_(shape), dtype_(dtype), k_scales_(std::move(k_scales)), v_scales_(std::move(v_scales)) {
  k_scales_.resize(static_cast<size_t>(shape.num_layers), 1.0f);
  v_scales_.resize(static_cast<size_t>(shape.num_layers), 1.0f);
  const size_t bytes =
      static_cast<size_t>(shape.num_blocks * shape.block_size * shape.num_kv_heads *
                          shape.head_dim * kv_dtype_bytes(dtype));
  // Backend buffers come zeroed (a read of a never-written slot, a bug, is deterministic) and
  // reserved rather than committed, so the cache costs what the pool's blocks use.
  for (int64_t l = 0; l < shape.num_layers; ++l) {
    k_.push_back(backend.allocate(bytes));
    v_.push_back(backend.allocate(bytes));
  }
}

uint64_t KvCache::discard_blocks(int64_t first_block, int64_t num_blocks) {
  const size_t block_bytes = static_cast<size_t>(shape_.block_size) * shape_.num_kv_heads *
                             shape_.head_dim * kv_dtype_bytes(dtype_);
  uint64_t released = 0;
  for (size_t l = 0; l < k_.size(); ++l) {
    for (auto* buffer : {k_[l].get(), v_[l].get()}) {
      released += buffer->discard(static_cast<size_t>(first_block) * block_bytes,
                                  static_cast<size_t>(num_blocks) * block_bytes);
    }
  }
  return released;
}

KvLayerView KvCache::layer(int64_t index) const {
  KvLayerView view;
  view.dtype = dtype_;
  view.k = k_[static_cast<size_t>(index)]->data();
  view.v = v_[static_cast<size_t>(index)]->data();
  view.num_blocks = shape_.num_blocks;
  view.block_size = shape_.block_size;
  view.num_kv_heads = shape_.num_kv_heads;
  view.head_dim = shape_.head_dim;
  if (dtype_ == KvDType::kFp8E4M3) {
    view.k_scale = k_scales_[static_cast<size_t>(index)];
    view.v_scale = v_scales_[static_cast<size_t>(index)];
  }
  return view;
}

uint64_t KvCache::bytes_per_token() const {
  return static_cast<uint64_t>(shape_.num_layers) * 2 * shape_.num_kv_heads * shape_.head_dim *
         kv_dtype_bytes(dtype_);
}

uint64_t KvCache::num_bytes() const {
  return bytes_per_token() * static_cast<uint64_t>(shape_.num_blocks) * shape_.block_size;
}

}  // namespace mm
