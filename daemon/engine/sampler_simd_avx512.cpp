// AVX-512 F versions of the sampler's heaviest vocabulary passes (sampler_simd.h): 16 lanes, and
// the cut compares land in mask registers, so a masked add or subtract costs one instruction
// where AVX2 needs a compare, an and and an add. The others are the AVX2 ones. Compiled with
// -mavx512f (and AVX2 + FMA) and called only when the CPU and OS run AVX-512.
// GCC 12 warns inside its own avx512fintrin.h that the _mm512_undefined_ps() pass-through of
// the unmasked intrinsics is (or may be) used uninitialized: a false positive of that header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "daemon/engine/sampler_simd.h"

namespace mm::sampler_simd {

const Kernels* avx2_kernels_impl();  // sampler_simd_avx2.cpp

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kLanes = 16;

// exp(x) for x <= 0, as exp_nonpositive in sampler_simd_avx2.cpp (the same constants and
// operations, so both give the same bits): 0 below -87.3 and for -inf.
__m512 exp_nonpositive(__m512 x) {
  const __mmask16 in_range = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(in_range, p, _mm512_castsi512_ps(bits));
}

double sum_to_double(__m512 v) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  const __m512d hi =
      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

float max_avx512(const float* x, size_t n) {
  __m512 a = _mm512_set1_ps(kNegInf), b = a;
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    a = _mm512_max_ps(a, _mm512_loadu_ps(x + i));
    b = _mm512_max_ps(b, _mm512_loadu_ps(x + i + kLanes));
  }
  float best = _mm512_reduce_max_ps(_mm512_max_ps(a, b));
  for (; i < n; ++i)
    best = x[i] > best ? x[i] : best;
  return best;
}

void count_ge_avx512(const float* x, size_t n, const float* cuts, int num_cuts, int64_t* counts) {
  __m512i lane_counts[kMaxCuts];
  __m512 cut[kMaxCuts];
  for (int j = 0; j < num_cuts; ++j) {
    lane_counts[j] = _mm512_setzero_si512();
    cut[j] = _mm512_set1_ps(cuts[j]);
  }
  const __m512i one = _mm512_set1_epi32(1);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 v = _mm512_loadu_ps(x + i);
    for (int j = 0; j < num_cuts; ++j) {
      const __mmask16 ge = _mm512_cmp_ps_mask(v, cut[j], _CMP_GE_OQ);
      lane_counts[j] = _mm512_mask_add_epi32(lane_counts[j], ge, lane_counts[j], one);
    }
  }
  for (int j = 0; j < num_cuts; ++j) {
    int64_t count = _mm512_reduce_add_epi32(lane_counts[j]);
    for (size_t k = i; k < n; ++k)
      count += x[k] >= cuts[j] ? 1 : 0;
    counts[j] = count;
  }
}

double exp_sums_avx512(const float* x, size_t n, float shift, const float* cuts, int num_cuts,
                       double* masses) {
  // f32 lane sums over blocks of 4096 ids (256 per lane, as AVX2's 2048 over 8 lanes), then f64.
  constexpr size_t kBlock = 4096;
  const __m512 s = _mm512_set1_ps(shift);
  __m512 cut[kMaxCuts];
  for (int j = 0; j < num_cuts; ++j) {
    cut[j] = _mm512_set1_ps(cuts[j]);
    masses[j] = 0.0;
  }
  double total = 0.0;
  size_t i = 0;
  while (i + kLanes <= n) {
    const size_t end = i + kBlock < n ? i + kBlock : n;
    __m512 block_total = _mm512_setzero_ps();
    __m512 block_mass[kMaxCuts];
    for (int j = 0; j < num_cuts; ++j)
      block_mass[j] = _mm512_setzero_ps();
    for (; i + kLanes <= end; i += kLanes) {
      const __m512 v = _mm512_loadu_ps(x + i);
      const __m512 e = exp_nonpositive(_mm512_sub_ps(v, s));
      block_total = _mm512_add_ps(block_total, e);
      for (int j = 0; j < num_cuts; ++j) {
        const __mmask16 ge = _mm512_cmp_ps_mask(v, cut[j], _CMP_GE_OQ);
        block_mass[j] = _mm512_mask_add_ps(block_mass[j], ge, block_mass[j], e);
      }
    }
    total += sum_to_double(block_total);
    for (int j = 0; j < num_cuts; ++j)
      masses[j] += sum_to_double(block_mass[j]);
  }
  for (; i < n; ++i) {
    const double e = std::exp(x[i] - shift);
    total += e;
    for (int j = 0; j < num_cuts; ++j)
      masses[j] += x[i] >= cuts[j] ? e : 0.0;
  }
  return total;
}

size_t gather_ge_avx512(const float* x, size_t n, float t, int32_t* out) {
  const __m512 threshold = _mm512_set1_ps(t);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t count = 0;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __mmask16 ge = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), threshold, _CMP_GE_OQ);
    const __m512i ids = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(i)), lane);
    _mm512_mask_compressstoreu_epi32(out + count, ge, ids);
    count += static_cast<size_t>(_mm_popcnt_u32(ge));
  }
  for (; i < n; ++i) {
    if (x[i] >= t) out[count++] = static_cast<int32_t>(i);
  }
  return count;
}

Kernels make_kernels() {
  Kernels k = *avx2_kernels_impl();
  k.name = "avx512f";
  k.max = max_avx512;
  k.count_ge = count_ge_avx512;
  k.exp_sums = exp_sums_avx512;
  k.gather_ge = gather_ge_avx512;
  return k;
}

const Kernels kAvx512 = make_kernels();

}  // namespace

const Kernels* avx512_kernels_impl() {
  return &kAvx512;
}

}  // namespace mm::sampler_simd
