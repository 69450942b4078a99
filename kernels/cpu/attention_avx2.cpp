// AVX2 inner loops of CPU attention (attention_loops.h). Built with -mavx2 only, never -mfma: a
// fused multiply-add would round once where the portable loops round twice.
#include <immintrin.h>

#include "kernels/cpu/attention_loops.h"

namespace mm {
namespace {

constexpr int kPanel = 8;

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
      acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(w, _mm256_loadu_ps(vp + 8 * c)));
  }
  for (int c = 0; c < kChunks; ++c)
    _mm256_storeu_ps(out + i0 + 8 * c, acc[c]);
}

}  // namespace

void attention_scores_avx2(const float* q, const float* panels, int64_t context, int head_dim,
                           float scale, float* scores) {
  const int64_t stride = int64_t{head_dim} * kPanel;
  alignas(32) float tail[4 * kPanel];
  int64_t p0 = 0;
  for (; p0 + 4 * kPanel <= context; p0 += 4 * kPanel)
    score_panels<4>(q, panels + (p0 / kPanel) * stride, head_dim, scale, scores + p0);
  // The last up-to-four panels (whole panels exist; lanes past `context` are dropped).
  const int64_t left = context - p0;
  if (left <= 0) return;
  const float* rest = panels + (p0 / kPanel) * stride;
  switch ((left + kPanel - 1) / kPanel) {
    case 4:
      score_panels<4>(q, rest, head_dim, scale, tail);
      break;
    case 3:
      score_panels<3>(q, rest, head_dim, scale, tail);
      break;
    case 2:
      score_panels<2>(q, rest, head_dim, scale, tail);
      break;
    default:
      score_panels<1>(q, rest, head_dim, scale, tail);
      break;
  }
  for (int64_t j = 0; j < left; ++j)
    scores[p0 + j] = tail[j];
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
