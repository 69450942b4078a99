// Fast (int8-dot) linear numerics: the activation quantizer, the ISA dispatch of the fast row
// kernels, and their portable scalar version (a differential reference and the fallback).
//
// What the fast kernels compute, per token m and output row n (K columns, blocks b of 32):
//   x_k ≈ d_b · q_k with d_b = amax_b / 127, q_k = rne(x_k / d_b) ∈ [−127, 127]
//   INT4:   y = Σ_g s_g · (Σ_{b∈g} d_b · Σ_{k∈b} (u_k − 8) q_k) − Σ_g z_g · s_g · X_g,
//           X_g = Σ_{b∈g} d_b · Σ_{k∈b} q_k          (u: raw nibbles, exact int32 block dots;
//           the SIMD kernels take the 8 out as −8·Σq in the int32 dot, this scalar reference
//           takes (8 + z) out in f32: the same value up to f32 summation order)
//   W8A16:  y = s_n · Σ_b d_b · Σ_{k∈b} w_k q_k
//   W8A8:   the checkpoint's own per-token quantization, exact int32 dot (bit-identical to
//           the exact path: only the instruction that forms the int32 dot differs).
// The only rounding beyond f32 summation order is q: |x_k − d_b q_k| ≤ d_b / 2 = amax_b / 254.
#include <algorithm>
#include <cmath>

#include "kernels/common/numeric.h"
#include "kernels/cpu/linear.h"

namespace mm {
namespace {

inline float bf16_value(uint16_t bits) {
  return bf16_to_f32(bits);
}

void rows_int4_fast_scalar(const LinearWeightsView& w, const LinearInputs& in, int64_t begin,
                           int64_t end, float* y) {
  const int64_t k_cols = w.num_cols;
  const int64_t num_blocks = k_cols / 32;
  const int64_t blocks_per_group = w.group_cols / 32;
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t* row = w.data + n * w.row_bytes;
    const uint16_t* scales = w.int4_scales + n * w.num_groups;
    const int8_t* zeros = w.int4_zeros != nullptr ? w.int4_zeros + n * w.num_groups : nullptr;
    for (int64_t m = 0; m < in.num_tokens; ++m) {
      const int8_t* xq = in.xq_blocks + m * k_cols;
      const float* d = in.x_block_scales + m * num_blocks;
      const float* x_sums = in.x_group_sums + m * w.num_groups;
      float acc = 0;
      for (int64_t b = 0; b < num_blocks; ++b) {
        int32_t dot = 0;
        for (int64_t k = 32 * b; k < 32 * b + 32; ++k)
          dot += int4_chunked_get(row, k) * xq[int4_act_index(k, num_blocks, 2)];
        acc += static_cast<float>(dot) * (d[b] * bf16_value(scales[b / blocks_per_group]));
      }
      float offset = 0;
      for (int64_t g = 0; g < w.num_groups; ++g) {
        const float o = 8.0f + (zeros != nullptr ? static_cast<float>(zeros[g]) : 0.0f);
        offset += (o * bf16_value(scales[g])) * x_sums[g];
      }
      y[m * w.num_rows + n] = acc - offset;
    }
  }
}

void rows_w8a16_fast_scalar(const LinearWeightsView& w, const LinearInputs& in, int64_t begin,
                            int64_t end, float* y) {
  const int64_t k_cols = w.num_cols;
  const int64_t num_blocks = k_cols / 32;
  for (int64_t n = begin; n < end; ++n) {
    const int8_t* row = reinterpret_cast<const int8_t*>(w.data + n * w.row_bytes);
    for (int64_t m = 0; m < in.num_tokens; ++m) {
      const int8_t* xq = in.xq_blocks + m * k_cols;
      const float* d = in.x_block_scales + m * num_blocks;
      float acc = 0;
      for (int64_t b = 0; b < num_blocks; ++b) {
        int32_t dot = 0;
        for (int64_t k = 32 * b; k < 32 * b + 32; ++k)
          dot += static_cast<int32_t>(row[k]) * xq[k];
        acc += static_cast<float>(dot) * d[b];
      }
      y[m * w.num_rows + n] = acc * w.scales[n];
    }
  }
}

}  // namespace

LinearRowsFn linear_rows_int8dot_scalar(PackedFormat format, bool int8_activations) {
  if (format == PackedFormat::kInt4Group) return &rows_int4_fast_scalar;
  if (format == PackedFormat::kInt8Channel)
    return int8_activations ? linear_rows_scalar(format, true) : &rows_w8a16_fast_scalar;
  return nullptr;
}

LinearRowsFn linear_rows_int8dot(CpuIsa isa, PackedFormat format, bool int8_activations) {
  switch (isa) {
    case CpuIsa::kScalar:
      return linear_rows_int8dot_scalar(format, int8_activations);
    case CpuIsa::kAvx2:
      return linear_rows_int8dot_avx2(format, int8_activations);
    case CpuIsa::kAvxVnni:
      return linear_rows_int8dot_avxvnni(format, int8_activations);
    case CpuIsa::kAvx512Vnni:
      return linear_rows_int8dot_avx512vnni(format, int8_activations);
  }
  return nullptr;
}

void quantize_int8_blocks32(const float* x, int64_t num_cols, int superblock, int8_t* xq, float* d,
                            int32_t* qsum) {
  const int64_t num_blocks = num_cols / 32;
  for (int64_t b = 0; b < num_blocks; ++b) {
    const float* xb = x + 32 * b;
    float amax = 0;
    for (int j = 0; j < 32; ++j)
      amax = std::max(amax, std::fabs(xb[j]));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      // |x · inv| ≤ 127 (up to one rounding), so no clamp is needed below −127 or above 127;
      // −128 never occurs, which the sign trick of the W8 kernels relies on.
      const int q = static_cast<int>(std::nearbyint(xb[j] * inv));
      const int64_t k = 32 * b + j;
      xq[superblock > 0 ? int4_act_index(k, num_blocks, superblock) : k] =
          static_cast<int8_t>(std::clamp(q, -127, 127));
      sum += std::clamp(q, -127, 127);
    }
    d[b] = amax / 127.0f;
    if (qsum != nullptr) qsum[b] = sum;
  }
}

}  // namespace mm
