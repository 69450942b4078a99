// The fast int8-dot kernels for AVX-512 VNNI (vpdpbusd on zmm: 64 byte products per
// instruction, twice the ymm width). Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni (plus AVX2/FMA/F16C); called only when cpu_supports(CpuIsa::kAvx512Vnni).
// Same computation and token tiling as linear_int8dot_ymm.inc; only the width differs: four
// 32-column int4 blocks (the super-block of its activation layout) or two int8 blocks per
// load, and masked loads for the tail, so any block count needs no scalar code.
// GCC 12's AVX-512 headers build their reductions from _mm512_undefined_*(), which trips
// -Wmaybe-uninitialized / -Wuninitialized once inlined (false positives: those lanes are never
// read).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/cpu/linear.h"

namespace mm {
namespace {

constexpr int kTokenTile = 4;
// One or two tokens stream the weights faster than the hardware prefetcher ramps up on rows of
// a few KB; the line this far ahead is requested early (as in the ymm INT4 kernel). 2 KiB:
// mid-size BF16 decode b1 ~90 → ~118 tok/s interleaved (1 KiB and 4 KiB measured lower).
constexpr int kPrefetchBytes = 2048;

inline float bf16_f32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float v;
  std::memcpy(&v, &wide, 4);
  return v;
}

// Σ_g z_g · s_g · X_g for one token, 16 groups per step (masked tail): the zero points' share
// of the offset (the symmetric 8 is taken out in the integer dots).
inline float int4_zero_offset(const uint16_t* scales, const int8_t* zeros, int64_t num_groups,
                              const float* x_sums) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t g = 0; g < num_groups; g += 16) {
    const int64_t left = num_groups - g;
    const __mmask16 m = left >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << left) - 1);
    const __m512 s = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, scales + g)), 16));
    const __m512 z = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, zeros + g)));
    acc = _mm512_fmadd_ps(_mm512_mul_ps(z, s), _mm512_maskz_loadu_ps(m, x_sums + g), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Weight scales of blocks b .. b + 3 as f32 (lanes past the row's last block unused).
inline __m128 quad_scales(const LinearWeightsView& w, const uint16_t* scales, int64_t b,
                          int64_t nb) {
  if (w.group_cols == 32 && nb == 4) {
    return _mm_castsi128_ps(_mm_slli_epi32(
        _mm_cvtepu16_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales + b))), 16));
  }
  if ((w.num_groups == 1 || w.group_cols % 128 == 0))
    return _mm_set1_ps(bf16_f32(scales[(32 * b) / w.group_cols]));
  alignas(16) float s[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < nb; ++i)
    s[i] = bf16_f32(scales[(32 * (b + i)) / w.group_cols]);
  return _mm_load_ps(s);
}

// One int4 row against kTile tokens: per step nb ≤ 4 blocks (64 weight bytes); the int32 dot
// of block b + j lands in lanes 4j .. 4j + 3, started from the symmetric offset
// {−8·Σq, 0, 0, 0} per block, and one FMA applies d · s per block.
template <int kTile>
inline void int4_tile(const LinearWeightsView& w, const uint8_t* row, const uint16_t* scales,
                      const int8_t* const* xq, const float* const* d4, const int32_t* const* o4,
                      float* out) {
  const int64_t num_blocks = w.num_cols / 32;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i quarters = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  __m512 acc[kTile];
  for (int i = 0; i < kTile; ++i)
    acc[i] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; b += 4) {
    const int64_t nb = num_blocks - b < 4 ? num_blocks - b : 4;
    // 16 bytes per block; the activations' low and high halves are 16·nb bytes each.
    const __mmask64 bytes = nb == 4 ? ~__mmask64{0} : (__mmask64{1} << (16 * nb)) - 1;
    const __mmask16 lanes = static_cast<__mmask16>((1u << (4 * nb)) - 1);
    const __m512i packed = _mm512_maskz_loadu_epi8(bytes, row + 16 * b);
    const __m512i lo = _mm512_and_si512(packed, nibble);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
    const __m512 s =
        _mm512_permutexvar_ps(quarters, _mm512_zextps128_ps512(quad_scales(w, scales, b, nb)));
    for (int i = 0; i < kTile; ++i) {
      const int8_t* x = xq[i] + 32 * b;
      __m512i dot = _mm512_maskz_loadu_epi32(lanes, o4[i] + 4 * b);
      dot = _mm512_dpbusd_epi32(dot, lo, _mm512_maskz_loadu_epi8(bytes, x));
      dot = _mm512_dpbusd_epi32(dot, hi, _mm512_maskz_loadu_epi8(bytes, x + 16 * nb));
      acc[i] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot),
                          _mm512_mul_ps(s, _mm512_maskz_loadu_ps(lanes, d4[i] + 4 * b)), acc[i]);
    }
  }
  for (int i = 0; i < kTile; ++i)
    out[i] = _mm512_reduce_add_ps(acc[i]);
}

void rows_int4(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
               float* y) {
  const int64_t num_blocks = w.num_cols / 32;
  const int8_t* xq[kTokenTile];
  const float* d4[kTokenTile];
  const int32_t* o4[kTokenTile];
  float out[kTokenTile];
  for (int64_t n = begin; n < end; ++n) {
    const uint8_t* row = w.data + n * w.row_bytes;
    const uint16_t* scales = w.int4_scales + n * w.num_groups;
    const int8_t* zeros = w.int4_zeros != nullptr ? w.int4_zeros + n * w.num_groups : nullptr;
    for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kTokenTile) {
      const int64_t left = in.num_tokens - m0;
      const int tile = static_cast<int>(left < kTokenTile ? left : kTokenTile);
      for (int i = 0; i < tile; ++i) {
        xq[i] = in.xq_blocks + (m0 + i) * w.num_cols;
        d4[i] = in.x_block_scales4 + 4 * (m0 + i) * num_blocks;
        o4[i] = in.x_block_offsets4 + 4 * (m0 + i) * num_blocks;
      }
      switch (tile) {
        case 4:
          int4_tile<4>(w, row, scales, xq, d4, o4, out);
          break;
        case 3:
          int4_tile<3>(w, row, scales, xq, d4, o4, out);
          break;
        case 2:
          int4_tile<2>(w, row, scales, xq, d4, o4, out);
          break;
        default:
          int4_tile<1>(w, row, scales, xq, d4, o4, out);
          break;
      }
      for (int i = 0; i < tile; ++i) {
        float value = out[i];
        if (zeros != nullptr) {
          value -= int4_zero_offset(scales, zeros, w.num_groups,
                                    in.x_group_sums + (m0 + i) * w.num_groups);
        }
        y[(m0 + i) * w.num_rows + n] = value;
      }
    }
  }
}

// Signed × signed through the unsigned × signed dot (see linear_int8dot_ymm.inc): q ≠ −128.
inline __m512i dot_s8s8(__m512i acc, __m512i w_abs, __m512i w, __m512i q) {
  const __mmask64 negative = _mm512_movepi8_mask(w);
  return _mm512_dpbusd_epi32(acc, w_abs,
                             _mm512_mask_sub_epi8(q, negative, _mm512_setzero_si512(), q));
}

// W8A16 fast: two 32-column blocks per load; their int32 dots in lanes 0-7 and 8-15.
template <int kTile>
inline void w8a16_tile(const LinearWeightsView& w, const int8_t* row, const int8_t* const* xq,
                       const float* const* d, float* out) {
  const int64_t num_blocks = w.num_cols / 32;
  const __m512i halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  __m512 acc[kTile];
  for (int i = 0; i < kTile; ++i)
    acc[i] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; b += 2) {
    const bool two = b + 2 <= num_blocks;
    const __mmask64 bytes = two ? ~__mmask64{0} : (__mmask64{1} << 32) - 1;
    const __m512i wv = _mm512_maskz_loadu_epi8(bytes, row + 32 * b);
    const __m512i w_abs = _mm512_abs_epi8(wv);
    for (int i = 0; i < kTile; ++i) {
      const __m512i dot = dot_s8s8(_mm512_setzero_si512(), w_abs, wv,
                                   _mm512_maskz_loadu_epi8(bytes, xq[i] + 32 * b));
      const __m512 scale = _mm512_permutexvar_ps(
          halves, _mm512_zextps128_ps512(_mm_maskz_loadu_ps(two ? 3 : 1, d[i] + b)));
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
    }
  }
  for (int i = 0; i < kTile; ++i)
    out[i] = _mm512_reduce_add_ps(acc[i]);
}

void rows_w8a16(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
                float* y) {
  const int64_t num_blocks = w.num_cols / 32;
  const int8_t* xq[kTokenTile];
  const float* d[kTokenTile];
  float out[kTokenTile];
  for (int64_t n = begin; n < end; ++n) {
    const int8_t* row = reinterpret_cast<const int8_t*>(w.data + n * w.row_bytes);
    for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kTokenTile) {
      const int64_t left = in.num_tokens - m0;
      const int tile = static_cast<int>(left < kTokenTile ? left : kTokenTile);
      for (int i = 0; i < tile; ++i) {
        xq[i] = in.xq_blocks + (m0 + i) * w.num_cols;
        d[i] = in.x_block_scales + (m0 + i) * num_blocks;
      }
      switch (tile) {
        case 4:
          w8a16_tile<4>(w, row, xq, d, out);
          break;
        case 3:
          w8a16_tile<3>(w, row, xq, d, out);
          break;
        case 2:
          w8a16_tile<2>(w, row, xq, d, out);
          break;
        default:
          w8a16_tile<1>(w, row, xq, d, out);
          break;
      }
      for (int i = 0; i < tile; ++i)
        y[(m0 + i) * w.num_rows + n] = out[i] * w.scales[n];
    }
  }
}

// W8A8: one exact int32 dot per row and token (masked tail), bit-identical to the exact path.
template <int kTile>
inline void w8a8_tile(const LinearWeightsView& w, const int8_t* row, const int8_t* const* xq,
                      int32_t* out) {
  const int64_t k_cols = w.num_cols;
  __m512i acc[kTile];
  for (int i = 0; i < kTile; ++i)
    acc[i] = _mm512_setzero_si512();
  for (int64_t k = 0; k < k_cols; k += 64) {
    const int64_t left = k_cols - k;
    const __mmask64 bytes = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
    const __m512i wv = _mm512_maskz_loadu_epi8(bytes, row + k);
    const __m512i w_abs = _mm512_abs_epi8(wv);
    for (int i = 0; i < kTile; ++i)
      acc[i] = dot_s8s8(acc[i], w_abs, wv, _mm512_maskz_loadu_epi8(bytes, xq[i] + k));
  }
  for (int i = 0; i < kTile; ++i)
    out[i] = _mm512_reduce_add_epi32(acc[i]);
}

void rows_w8a8(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
               float* y) {
  const int8_t* xq[kTokenTile];
  int32_t out[kTokenTile];
  for (int64_t n = begin; n < end; ++n) {
    const int8_t* row = reinterpret_cast<const int8_t*>(w.data + n * w.row_bytes);
    for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kTokenTile) {
      const int64_t left = in.num_tokens - m0;
      const int tile = static_cast<int>(left < kTokenTile ? left : kTokenTile);
      for (int i = 0; i < tile; ++i)
        xq[i] = in.xq + (m0 + i) * w.num_cols;
      switch (tile) {
        case 4:
          w8a8_tile<4>(w, row, xq, out);
          break;
        case 3:
          w8a8_tile<3>(w, row, xq, out);
          break;
        case 2:
          w8a8_tile<2>(w, row, xq, out);
          break;
        default:
          w8a8_tile<1>(w, row, xq, out);
          break;
      }
      for (int i = 0; i < tile; ++i)
        y[(m0 + i) * w.num_rows + n] =
            (static_cast<float>(out[i]) * in.x_scales[m0 + i]) * w.scales[n];
    }
  }
}

// FP8 block weights, f32 activations (W8A16, as the exact kernels: no activation rounding,
// only the f32 summation order differs). e4m3 → f16 by moving bits (exact for every finite
// code, value × 2^−8, linear_avx2.cpp explains the mask), 32 codes per step; vcvtph2ps widens
// 16 at a time, so one zmm FMA does what takes two ymm conversions and two FMAs on AVX2 (the
// AVX2 kernel is bound by instruction throughput). Per token two chains per group; the group's
// sum times its scale (× 2^8) is added once per group. Needs whole groups of 32·j columns.
template <int kTile>
inline void fp8_tile(const LinearWeightsView& w, const uint8_t* row, const float* scales,
                     const float* const* xs, float* out) {
  const __m512i mask = _mm512_set1_epi16(static_cast<short>(0xBF80));
  __m512 acc[kTile];
  for (int i = 0; i < kTile; ++i)
    acc[i] = _mm512_setzero_ps();
  int64_t k = 0;
  for (int64_t g = 0; g < w.num_groups; ++g) {
    __m512 s0[kTile], s1[kTile];
    for (int i = 0; i < kTile; ++i) {
      s0[i] = _mm512_setzero_ps();
      s1[i] = _mm512_setzero_ps();
    }
    for (const int64_t end = k + w.group_cols; k < end; k += 32) {
      if constexpr (kTile <= 2)
        _mm_prefetch(reinterpret_cast<const char*>(row + k + kPrefetchBytes), _MM_HINT_T0);
      const __m512i codes =
          _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k)));
      const __m512i half = _mm512_and_si512(_mm512_slli_epi16(codes, 7), mask);
      const __m512 w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(half));
      const __m512 w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(half, 1));
      for (int i = 0; i < kTile; ++i) {
        s0[i] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs[i] + k), s0[i]);
        s1[i] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xs[i] + k + 16), s1[i]);
      }
    }
    const __m512 scale = _mm512_set1_ps(scales[g] * 256.0f);
    for (int i = 0; i < kTile; ++i)
      acc[i] = _mm512_fmadd_ps(_mm512_add_ps(s0[i], s1[i]), scale, acc[i]);
  }
  for (int i = 0; i < kTile; ++i)
    out[i] = _mm512_reduce_add_ps(acc[i]);
}

// Eight tokens per tile: 3 · 8 accumulators fit the 32 zmm registers, and each weight's
// decode (5 instructions per 32) is shared by twice as many tokens as in the other kernels.
constexpr int kFp8TokenTile = 8;  // FP8 and BF16

// Calls fn(std::integral_constant<int, t>{}) for the run-time tile size t in 1 .. kTile.
template <int kTile, class Fn>
inline void with_tile(int tile, Fn&& fn) {
  if constexpr (kTile > 1) {
    if (tile < kTile) {
      with_tile<kTile - 1>(tile, fn);
      return;
    }
  }
  fn(std::integral_constant<int, kTile>{});
}

// The row loop of the f32-activation kernels (FP8, BF16): for each row, tiles of up to
// kFp8TokenTile tokens; row_tile(n, xs, tile, out) computes row n for the tile's tokens.
template <class RowTile>
inline void rows_f32_activations(const LinearWeightsView& w, const LinearInputs& in, int64_t begin,
                                 int64_t end, float* y, RowTile&& row_tile) {
  const float* xs[kFp8TokenTile];
  float out[kFp8TokenTile];
  for (int64_t n = begin; n < end; ++n) {
    for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kFp8TokenTile) {
      const int64_t left = in.num_tokens - m0;
      const int tile = static_cast<int>(left < kFp8TokenTile ? left : kFp8TokenTile);
      for (int i = 0; i < tile; ++i)
        xs[i] = in.x + (m0 + i) * w.num_cols;
      row_tile(n, xs, tile, out);
      for (int i = 0; i < tile; ++i)
        y[(m0 + i) * w.num_rows + n] = out[i];
    }
  }
}

void rows_fp8(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
              float* y) {
  rows_f32_activations(
      w, in, begin, end, y, [&](int64_t n, const float* const* xs, int tile, float* out) {
        const uint8_t* row = w.data + n * w.row_bytes;
        const float* scales = w.scales + (n / w.block_rows) * w.num_groups;
        with_tile<kFp8TokenTile>(
            tile, [&](auto t) { fp8_tile<decltype(t)::value>(w, row, scales, xs, out); });
      });
}

// BF16 weights, f32 activations: each weight widened exactly (zero-extend, shift by 16), so only
// the f32 summation order differs from the exact kernel (16 lanes, two chains per token over
// the two 16-column halves of each 32-column step). Eight tokens per tile, as for FP8; the
// widening is shared by all of them. Needs K a multiple of 32.
template <int kTile>
inline void bf16_tile(const LinearWeightsView& w, const uint16_t* row, const float* const* xs,
                      float* out) {
  __m512 acc0[kTile], acc1[kTile];
  for (int i = 0; i < kTile; ++i) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < w.num_cols; k += 32) {
    if constexpr (kTile <= 2) {
      _mm_prefetch(reinterpret_cast<const char*>(row + k) + kPrefetchBytes, _MM_HINT_T0);
    }
    const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k))), 16));
    const __m512 w1 = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + k + 16))),
        16));
    for (int i = 0; i < kTile; ++i) {
      acc0[i] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs[i] + k), acc0[i]);
      acc1[i] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xs[i] + k + 16), acc1[i]);
    }
  }
  for (int i = 0; i < kTile; ++i)
    out[i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i]));
}

void rows_bf16(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
               float* y) {
  rows_f32_activations(
      w, in, begin, end, y, [&](int64_t n, const float* const* xs, int tile, float* out) {
        const auto* row = reinterpret_cast<const uint16_t*>(w.data + n * w.row_bytes);
        with_tile<kFp8TokenTile>(tile,
                                 [&](auto t) { bf16_tile<decltype(t)::value>(w, row, xs, out); });
      });
}

}  // namespace

LinearRowsFn linear_rows_int8dot_avx512vnni(PackedFormat format, bool int8_activations) {
  if (format == PackedFormat::kInt4Group) return &rows_int4;
  if (format == PackedFormat::kInt8Channel) return int8_activations ? &rows_w8a8 : &rows_w8a16;
  if (format == PackedFormat::kFp8Block) return &rows_fp8;
  if (format == PackedFormat::kBf16) return &rows_bf16;
  return nullptr;
}

}  // namespace mm
