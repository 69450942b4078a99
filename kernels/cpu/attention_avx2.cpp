// AVX2 inner loops of CPU attention (attention_loops.h). Built with -mavx2 only, never -mfma: a
// fused multiply-add would round once where the portable loops round twice.
#include <immintrin.h>

#include <array>

#include "kernels/common/numeric.h"
#include "kernels/cpu/attention_loops.h"

namespace mm {
namespace {

constexpr int64_t kPanel = 8;

// kPanels panels side by side: independent add chains, so the loop runs at the adder's
// throughput instead of its latency; each lane's sequence is that of one panel alone.
template <int kPanels>
inline void score_panels(const float* q, const float* panels, int head_dim, float scale,
                         float* out) {
  __m256 acc[kPanels];
  for (int j = 0; j < kPanels; ++j)
    acc[j] = _mm256_setzero_ps();
  const int64_t stride = int64_t{head_dim} * kPanel;
  for (int i = 0; i < head_dim; ++i) {
    const __m256 qi = _mm256_broadcast_ss(q + i);
    for (int j = 0; j < kPanels; ++j) {
      const __m256 k = _mm256_loadu_ps(panels + j * stride + int64_t{i} * kPanel);
      acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(qi, k));
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int j = 0; j < kPanels; ++j)
    _mm256_storeu_ps(out + j * kPanel, _mm256_mul_ps(acc[j], s));
}

// Output columns [i0, i0 + 8·kChunks) of the weighted sum, all positions, in registers.
template <int kChunks>
inline void weighted_columns(const float* weights, const float* values, int64_t context,
                             int head_dim, int i0, float* out) {
  __m256 acc[kChunks];
  for (int c = 0; c < kChunks; ++c)
    acc[c] = _mm256_setzero_ps();
  for (int64_t p = 0; p < context; ++p) {
    const __m256 w = _mm256_broadcast_ss(weights + p);
    const float* vp = values + p * head_dim + i0;
    for (int c = 0; c < kChunks; ++c)
      acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(w, _mm256_loadu_ps(vp + int64_t{8} * c)));
  }
  for (int c = 0; c < kChunks; ++c)
    _mm256_storeu_ps(out + i0 + int64_t{8} * c, acc[c]);
}

// Eight decoded elements of a row at element `i`: f32 as stored, bf16 widened (exact), e4m3
// through the same 256-entry table e4m3fn_to_f32 reads, times the scale (one rounding, as in
// load_row).
inline __m256 load8(KvDType dtype, const void* base, int64_t at, float scale) {
  switch (dtype) {
    case KvDType::kF32:
      return _mm256_loadu_ps(static_cast<const float*>(base) + at);
    case KvDType::kBf16: {
      const __m128i bits = _mm_loadu_si128(
          reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + at));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
    }
    case KvDType::kFp8E4M3: {
      static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int c = 0; c < 256; ++c)
          t[static_cast<size_t>(c)] = e4m3fn_to_f32(static_cast<uint8_t>(c));
        return t;
      }();
      const __m128i codes =
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(base) + at));
      const __m256 values = _mm256_i32gather_ps(table.data(), _mm256_cvtepu8_epi32(codes), 4);
      return _mm256_mul_ps(values, _mm256_set1_ps(scale));
    }
  }
  return _mm256_setzero_ps();
}

// In-register transpose of eight rows of eight floats.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

}  // namespace

void attention_load_key_panel_avx2(KvDType dtype, const void* base, const int64_t* offsets,
                                   int count, int head_dim, float scale, float* panel) {
  for (int i = 0; i < head_dim; i += 8) {
    __m256 r[8];
    for (int j = 0; j < 8; ++j)
      r[j] = j < count ? load8(dtype, base, offsets[j] + i, scale) : _mm256_setzero_ps();
    transpose8(r);
    for (int d = 0; d < 8; ++d)
      _mm256_storeu_ps(panel + (i + d) * kPanel, r[d]);
  }
}

void attention_load_row_avx2(KvDType dtype, const void* base, int64_t offset, int head_dim,
                             float scale, float* dst) {
  for (int i = 0; i < head_dim; i += 8)
    _mm256_storeu_ps(dst + i, load8(dtype, base, offset + i, scale));
}

void attention_scores_avx2(const float* q, const float* panels, int64_t context, int head_dim,
                           float scale, float* scores) {
  const int64_t stride = int64_t{head_dim} * kPanel;
  int64_t p0 = 0;
  for (; p0 + 4 * kPanel <= context; p0 += 4 * kPanel)
    score_panels<4>(q, panels + (p0 / kPanel) * stride, head_dim, scale, scores + p0);
  for (; p0 + kPanel <= context; p0 += kPanel)
    score_panels<1>(q, panels + (p0 / kPanel) * stride, head_dim, scale, scores + p0);
  if (p0 < context) {  // a partial last panel (it exists whole; lanes past `context` dropped)
    alignas(32) float tail[kPanel];
    score_panels<1>(q, panels + (p0 / kPanel) * stride, head_dim, scale, tail);
    for (int64_t j = 0; p0 + j < context; ++j)
      scores[p0 + j] = tail[j];
  }
}

void attention_weighted_sum_avx2(const float* weights, const float* values, int64_t context,
                                 int head_dim, float* out) {
  int i0 = 0;
  for (; i0 + 64 <= head_dim; i0 += 64)
    weighted_columns<8>(weights, values, context, head_dim, i0, out);
  for (; i0 + 8 <= head_dim; i0 += 8)
    weighted_columns<1>(weights, values, context, head_dim, i0, out);
  for (; i0 < head_dim; ++i0) {
    float acc = 0;
    for (int64_t p = 0; p < context; ++p)
      acc += weights[p] * values[p * head_dim + i0];
    out[i0] = acc;
  }
}

}  // namespace mm
