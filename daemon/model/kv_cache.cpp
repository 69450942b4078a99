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
    : shape_(shape),
      dtype_(dtype),
      k_scales_(std::move(k_scales)),
      v_scales_(std::move(v_scales)) {
  k_scales_.resize(static_cast<size_t>(shape.num_layers), 1.0f);
  v_scales_.resize(static_cast<size_t>(shape.num_layers), 1.0f);
  const size_t bytes =
      static_cast<size_t>(shape.num_blocks * shape.block_size * shape.num_kv_heads *
                          shape.head_dim * kv_dtype_bytes(dtype));
  backend_ = &backend;
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

size_t KvCache::block_bytes() const {
  return static_cast<size_t>(shape_.block_size) * shape_.num_kv_heads * shape_.head_dim *
         kv_dtype_bytes(dtype_);
}

uint64_t KvCache::block_payload_bytes() const {
  return static_cast<uint64_t>(shape_.num_layers) * 2 * (block_bytes() + sizeof(float));
}

void KvCache::read_block(int64_t block, std::span<std::byte> payload) const {
  const size_t bytes = block_bytes();
  std::byte* out = payload.data();
  for (size_t l = 0; l < k_.size(); ++l) {
    for (Buffer* buffer : {k_[l].get(), v_[l].get()}) {
      const auto* src =
          static_cast<const std::byte*>(buffer->data()) + static_cast<size_t>(block) * bytes;
      backend_->copy_to_host(out, src, bytes);
      out += bytes;
    }
  }
  std::memcpy(out, k_scales_.data(), k_scales_.size() * sizeof(float));
  out += k_scales_.size() * sizeof(float);
  std::memcpy(out, v_scales_.data(), v_scales_.size() * sizeof(float));
}

bool KvCache::write_block(int64_t block, std::span<const std::byte> payload) {
  if (payload.size() != block_payload_bytes() || block < 0 || block >= shape_.num_blocks)
    return false;
  const size_t bytes = block_bytes();
  const std::byte* scales = payload.data() + k_.size() * 2 * bytes;
  // Bit-equal scales, or the codes would be read at another scale.
  if (std::memcmp(scales, k_scales_.data(), k_scales_.size() * sizeof(float)) != 0 ||
      std::memcmp(scales + k_scales_.size() * sizeof(float), v_scales_.data(),
                  v_scales_.size() * sizeof(float)) != 0) {
    return false;
  }
  const std::byte* in = payload.data();
  for (size_t l = 0; l < k_.size(); ++l) {
    for (auto* buffer : {k_[l].get(), v_[l].get()}) {
      auto* dst = static_cast<std::byte*>(buffer->data()) + static_cast<size_t>(block) * bytes;
      backend_->copy_to_backend(dst, in, bytes);
      in += bytes;
    }
  }
  return true;
}

uint64_t KvCache::num_bytes() const {
  return bytes_per_token() * static_cast<uint64_t>(shape_.num_blocks) * shape_.block_size;
}

}  // namespace mm
