// AVX2 + FMA versions of the sampler's vocabulary passes (sampler_simd.h). Compiled with -mavx2
// -mfma and called only when the CPU has both. A row of 200,064 f32 logits is 800 KB, about the
// size of one core's L2: each pass is bound by reading it, so a pass does all it can per load.
#include <immintrin.h>

#include <bit>
#include <cmath>
#include <limits>

#include "daemon/engine/sampler_simd.h"

namespace mm::sampler_simd {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kLanes = 8;

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

double horizontal_sum_to_double(__m256 v) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  const __m256d s = _mm256_add_pd(lo, hi);
  __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
  return _mm_cvtsd_f64(t);
}

// exp(x) for x <= 0 in f32 to about 2 ulp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two
// so n ln2 is exact to f32), e^r by its Taylor series to r^7 (error below 1e-8 relative there),
// times 2^n through the exponent bits. Below -87.3 (where 2^n leaves the normal range) it is 0,
// which also covers -inf.
__m256 exp_nonpositive(__m256 x) {
  const __m256 too_small = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(too_small, result);
}

float max_avx2(const float* x, size_t n) {
  __m256 a = _mm256_set1_ps(kNegInf), b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {  // four chains hide the max latency
    a = _mm256_max_ps(a, _mm256_loadu_ps(x + i));
    b = _mm256_max_ps(b, _mm256_loadu_ps(x + i + kLanes));
    c = _mm256_max_ps(c, _mm256_loadu_ps(x + i + 2 * kLanes));
    d = _mm256_max_ps(d, _mm256_loadu_ps(x + i + 3 * kLanes));
  }
  for (; i + kLanes <= n; i += kLanes)
    a = _mm256_max_ps(a, _mm256_loadu_ps(x + i));
  float best = horizontal_max(_mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d)));
  for (; i < n; ++i)
    best = x[i] > best ? x[i] : best;
  return best;
}

float divide_max_avx2(float* x, size_t n, float divisor) {
  const __m256 div = _mm256_set1_ps(divisor);
  __m256 a = _mm256_set1_ps(kNegInf), b = a;
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const __m256 u = _mm256_div_ps(_mm256_loadu_ps(x + i), div);
    const __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i + kLanes), div);
    _mm256_storeu_ps(x + i, u);
    _mm256_storeu_ps(x + i + kLanes, v);
    a = _mm256_max_ps(a, u);
    b = _mm256_max_ps(b, v);
  }
  float best = horizontal_max(_mm256_max_ps(a, b));
  for (; i < n; ++i) {
    x[i] /= divisor;
    best = x[i] > best ? x[i] : best;
  }
  return best;
}

size_t find_first_avx2(const float* x, size_t n, float value) {
  const __m256 v = _mm256_set1_ps(value);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), v, _CMP_EQ_OQ));
    if (mask != 0) return i + static_cast<size_t>(std::countr_zero(static_cast<unsigned>(mask)));
  }
  for (; i < n; ++i) {
    if (x[i] == value) return i;
  }
  return n;
}

void count_ge_avx2(const float* x, size_t n, const float* cuts, int num_cuts, int64_t* counts) {
  // Per-lane counters: a true compare is -1 as an integer, so subtracting it counts.
  __m256i lane_counts[kMaxCuts];
  __m256 cut[kMaxCuts];
  for (int j = 0; j < num_cuts; ++j) {
    lane_counts[j] = _mm256_setzero_si256();
    cut[j] = _mm256_set1_ps(cuts[j]);
  }
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 v = _mm256_loadu_ps(x + i);
    for (int j = 0; j < num_cuts; ++j) {
      lane_counts[j] = _mm256_sub_epi32(lane_counts[j],
                                        _mm256_castps_si256(_mm256_cmp_ps(v, cut[j], _CMP_GE_OQ)));
    }
  }
  for (int j = 0; j < num_cuts; ++j) {
    alignas(32) int32_t lanes[kLanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), lane_counts[j]);
    int64_t count = 0;
    for (int32_t lane : lanes)
      count += lane;
    for (size_t k = i; k < n; ++k)
      count += x[k] >= cuts[j] ? 1 : 0;
    counts[j] = count;
  }
}

double exp_sums_avx2(const float* x, size_t n, float shift, const float* cuts, int num_cuts,
                     double* masses) {
  // f32 lane sums over blocks of 2048 ids, then f64: a block's rounding error stays below
  // 256 ulp of its sum, and the f64 total of ~100 blocks adds nothing visible.
  constexpr size_t kBlock = 2048;
  const __m256 s = _mm256_set1_ps(shift);
  __m256 cut[kMaxCuts];
  for (int j = 0; j < num_cuts; ++j) {
    cut[j] = _mm256_set1_ps(cuts[j]);
    masses[j] = 0.0;
  }
  double total = 0.0;
  size_t i = 0;
  while (i + kLanes <= n) {
    const size_t end = i + kBlock < n ? i + kBlock : n;
    __m256 block_total = _mm256_setzero_ps();
    __m256 block_mass[kMaxCuts];
    for (int j = 0; j < num_cuts; ++j)
      block_mass[j] = _mm256_setzero_ps();
    for (; i + kLanes <= end; i += kLanes) {
      const __m256 v = _mm256_loadu_ps(x + i);
      const __m256 e = exp_nonpositive(_mm256_sub_ps(v, s));
      block_total = _mm256_add_ps(block_total, e);
      for (int j = 0; j < num_cuts; ++j) {
        block_mass[j] =
            _mm256_add_ps(block_mass[j], _mm256_and_ps(e, _mm256_cmp_ps(v, cut[j], _CMP_GE_OQ)));
      }
    }
    total += horizontal_sum_to_double(block_total);
    for (int j = 0; j < num_cuts; ++j)
      masses[j] += horizontal_sum_to_double(block_mass[j]);
  }
  for (; i < n; ++i) {
    const double e = std::exp(x[i] - shift);
    total += e;
    for (int j = 0; j < num_cuts; ++j)
      masses[j] += x[i] >= cuts[j] ? e : 0.0;
  }
  return total;
}

// For each 8-bit lane mask, the positions of its set bits, packed to the front: a compress
// (AVX2 has no vcompressps) is then one permute-free add and one store per eight ids.
struct CompressTable {
  alignas(32) int32_t positions[256][kLanes] = {};
  constexpr CompressTable() {
    for (int mask = 0; mask < 256; ++mask) {
      int count = 0;
      for (int lane = 0; lane < static_cast<int>(kLanes); ++lane) {
        if ((mask >> lane) & 1) positions[mask][count++] = lane;
      }
    }
  }
};
constexpr CompressTable kCompress;

size_t gather_ge_avx2(const float* x, size_t n, float t, int32_t* out) {
  // Branch-free: every step stores eight lanes at out + count and advances by the number that
  // passed; count <= i, so the store stays inside out[0, n).
  const __m256 threshold = _mm256_set1_ps(t);
  size_t count = 0;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const auto mask = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), threshold, _CMP_GE_OQ)));
    const __m256i ids = _mm256_add_epi32(
        _mm256_set1_epi32(static_cast<int>(i)),
        _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompress.positions[mask])));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + count), ids);
    count += static_cast<size_t>(std::popcount(mask));
  }
  for (; i < n; ++i) {
    if (x[i] >= t) out[count++] = static_cast<int32_t>(i);
  }
  return count;
}

void apply_bitmask_avx2(float* x, size_t n, const uint32_t* words, size_t num_words) {
  // Eight ids per step: their byte of the mask is broadcast and each lane tests its own bit.
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256 masked = _mm256_set1_ps(kNegInf);
  const size_t covered = num_words * 32 < n ? num_words * 32 : n;
  size_t i = 0;
  for (; i + kLanes <= covered; i += kLanes) {
    const uint32_t byte = (words[i / 32] >> (i % 32)) & 0xFFu;
    if (byte == 0xFFu) continue;  // all eight allowed
    const __m256i bits = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(byte)), lane_bit);
    const __m256 allowed = _mm256_castsi256_ps(_mm256_cmpeq_epi32(bits, lane_bit));
    _mm256_storeu_ps(x + i, _mm256_blendv_ps(masked, _mm256_loadu_ps(x + i), allowed));
  }
  for (; i < n; ++i) {
    const size_t word = i / 32;
    const bool allowed = word < num_words && ((words[word] >> (i % 32)) & 1u) != 0;
    if (!allowed) x[i] = kNegInf;
  }
}

const Kernels kAvx2{"avx2+fma",    max_avx2,      divide_max_avx2, find_first_avx2,
                    count_ge_avx2, exp_sums_avx2, gather_ge_avx2,  apply_bitmask_avx2};

}  // namespace

const Kernels* avx2_kernels_impl() {
  return &kAvx2;
}

}  // namespace mm::sampler_simd
