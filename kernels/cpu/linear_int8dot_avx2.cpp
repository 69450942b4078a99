// The fast int8-dot kernels for AVX2 (vpmaddubsw + vpmaddwd): the reference the VNNI paths are
// tested against. Compiled with -mavx2 -mfma -mf16c; called only after detected_cpu_isa().
#define MMD_INT8DOT_VNNI 0
#define MMD_INT8DOT_NAME linear_rows_int8dot_avx2
#include <algorithm>

#include "kernels/cpu/linear_int8dot_ymm.inc"

namespace mm {

namespace {

// 16 int8 from two vectors of 8 int32 in [−127, 127]: a's eight, then b's.
inline __m128i narrow_pair(__m256i a, __m256i b) {
  const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
  return _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
}

}  // namespace

void quantize_int8_blocks32_avx2(const float* x, int64_t num_cols, int superblock, int8_t* xq,
                                 float* d, int32_t* qsum) {
  const int64_t num_blocks = num_cols / 32;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int64_t b = 0; b < num_blocks; ++b) {
    const float* xb = x + 32 * b;
    __m256 v[4];
    for (int64_t i = 0; i < 4; ++i)
      v[i] = _mm256_loadu_ps(xb + 8 * i);
    const __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float amax = _mm_cvtss_f32(h);
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    // The same product as the scalar quantizer, rounded to nearest even by the conversion (the
    // default MXCSR mode, as nearbyint): bit-identical codes.
    const __m256 scale = _mm256_set1_ps(inv);
    __m256i q[4];
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[i], scale)), lo),
                              hi);
      sum = _mm256_add_epi32(sum, q[i]);
    }
    if (superblock > 0) {
      // int4_act_index: columns {0-7, 16-23} in the block's low half, {8-15, 24-31} in its high.
      const int64_t first = b - b % superblock;
      const int64_t nb = std::min<int64_t>(superblock, num_blocks - first);
      int8_t* base = xq + first * 32;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(base + 16 * (b - first)),
                       narrow_pair(q[0], q[2]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(base + 16 * (nb + b - first)),
                       narrow_pair(q[1], q[3]));
    } else {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + 32 * b), narrow_pair(q[0], q[1]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + 32 * b + 16), narrow_pair(q[2], q[3]));
    }
    d[b] = amax / 127.0f;
    if (qsum != nullptr) {
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      qsum[b] = _mm_cvtsi128_si32(s4);
    }
  }
}

}  // namespace mm
