// Device-side helpers shared by the CUDA kernels: exact decodes of the stored number formats
// (the same values kernels/common/numeric.h gives on the host), one weight of a packed Linear,
// and warp reductions over the target's warp width (device_compat.cuh).
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_compat.cuh"

namespace mm::cuda {

__device__ __forceinline__ float bf16_bits_to_float(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

// Round to nearest even (NaN: the quiet NaN 0x7FC0), as f32_to_bf16.
__device__ __forceinline__ uint16_t float_to_bf16_bits(float value) {
  const uint32_t bits = __float_as_uint(value);
  if (value != value) return 0x7FC0;
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);
}

// W[n, k] of a packed Linear in f32, k in packed column order (packed_linear.h).
__device__ __forceinline__ float weight_at(const DeviceLinear& w, int64_t n, int64_t k) {
  switch (w.format) {
    case PackedFormat::kF32:
      return reinterpret_cast<const float*>(w.data)[n * w.num_cols + k];
    case PackedFormat::kBf16:
      return bf16_bits_to_float(reinterpret_cast<const uint16_t*>(w.data)[n * w.num_cols + k]);
    case PackedFormat::kFp8Block:
      return e4m3_to_float(w.data[n * w.num_cols + k]) *
             w.scales[(n / w.block_rows) * w.num_groups + k / w.group_cols];
    case PackedFormat::kInt4Group: {
      const uint8_t byte = w.data[n * w.row_bytes + 8 * (k / 16) + (k % 8)];
      const int u = (byte >> (4 * ((k % 16) / 8))) & 0xF;
      const int64_t g = n * w.num_groups + k / w.group_cols;
      const float s = bf16_bits_to_float(w.int4_scales[g]);
      const int z = w.int4_zeros != nullptr ? w.int4_zeros[g] : 0;
      return __fmaf_rn(static_cast<float>(u), s, -static_cast<float>(8 + z) * s);
    }
    case PackedFormat::kInt8Channel:
      return static_cast<float>(static_cast<int8_t>(w.data[n * w.num_cols + k])) * w.scales[n];
  }
  return 0.0f;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += shfl_xor(v, offset);
  return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += shfl_xor(v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v = fmaxf(v, shfl_xor(v, offset));
  return v;
}

inline unsigned int blocks_for(int64_t count, int threads) {
  return static_cast<unsigned int>((count + threads - 1) / threads);
}

}  // namespace mm::cuda
