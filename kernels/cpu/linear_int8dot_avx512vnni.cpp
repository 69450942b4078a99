// The fast int8-dot kernels for AVX-512 VNNI (vpdpbusd on zmm: 64 byte products per
// instruction, twice the ymm width). Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni (plus AVX2/FMA/F16C); called only when cpu_supports(CpuIsa::kAvx512Vnni).
// INT8: the computation and token tiling of linear_int8dot_ymm.inc at twice the width, two
// int8 blocks per load and masked loads for the tail. INT4: sixteen-row tiles (int4_row_tiles.h,
// as the CPU backend makes INT4 resident here), or the ymm kernels of linear_int4_ymm.inc
// (EVEX vpdpbusd) for weights in the packed row layout; both give the AVX2 path's bits.
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

#define MMD_INT8DOT_VNNI 2
#include "kernels/cpu/linear_int4_ymm.inc"

constexpr int kTokenTile = 4;
// One or two tokens stream the weights faster than the hardware prefetcher ramps up on rows of
// a few KB; the line this far ahead is requested early (as in the ymm INT4 kernel). 2 KiB:
// mid-size BF16 decode b1 ~90 → ~118 tok/s interleaved (1 KiB and 4 KiB measured lower).
constexpr int kPrefetchBytes = 2048;

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

// INT4 from row tiles (int4_row_tiles.h): sixteen rows (one per lane) × kTokens tokens per
// pass. Per block b and token: the four weight dwords' low and high nibbles, eight vpdpbusd
// against the token's matching four activations broadcast to every lane (two chains, low and
// high, summed: the exact block sum S = Σ u·q − 8·Σq), then fma(S, s_b · d_b) into the token's
// even- or odd-block chain and y = E + O: the ymm kernels' f32 steps for every (row, token).
// Weights stream from DRAM with few tokens; a tile is contiguous, so ask for it ahead.
constexpr int kTilePrefetchBytes = 2048;

template <int kTokens>
inline void int4_tile_tokens(const LinearWeightsView& w, const LinearInputs& in, int64_t tile,
                             int64_t m0, bool prefetch, __m512* out) {
  const int64_t num_blocks = w.num_cols / 32;
  const uint8_t* data = w.int4_tiles + tile * num_blocks * 256;
  const uint16_t* scales = w.int4_tile_scales + tile * w.num_groups * 16;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const int8_t* xq[kTokens];
  const float* d[kTokens];
  const int32_t* o4[kTokens];
  __m512 even[kTokens], odd[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    xq[t] = in.xq_blocks + (m0 + t) * w.num_cols;
    d[t] = in.x_block_scales + (m0 + t) * num_blocks;
    o4[t] = in.x_block_offsets4 + 4 * (m0 + t) * num_blocks;
    even[t] = _mm512_setzero_ps();
    odd[t] = _mm512_setzero_ps();
  }
  // The group's scales, loaded where a group starts (no integer division per block).
  // group_cols is a multiple of 32, or K (one group).
  const int64_t blocks_per_group = w.group_cols / 32;
  int64_t group = -1, group_end = 0;
  __m512 s = _mm512_setzero_ps();
  const auto block = [&](int64_t b, __m512* acc) {
    const uint8_t* p = data + 256 * b;
    if (prefetch) {
      for (int line = 0; line < 256; line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(p + kTilePrefetchBytes + line), _MM_HINT_T0);
    }
    __m512i lo[4], hi[4];
    for (int64_t j = 0; j < 4; ++j) {
      const __m512i v = _mm512_loadu_si512(p + 64 * j);
      lo[j] = _mm512_and_si512(v, nibble);
      hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
    }
    if (b == group_end) {
      ++group;
      group_end += blocks_per_group;
      s = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + 16 * group))),
          16));
    }
    for (int t = 0; t < kTokens; ++t) {
      const int8_t* x = xq[t] + 32 * b;
      __m512i low = _mm512_set1_epi32(o4[t][4 * b]);
      __m512i high = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) {
        const int off = 16 * (j / 2) + 4 * (j % 2);
        int32_t a, c;
        std::memcpy(&a, x + off, 4);
        std::memcpy(&c, x + off + 8, 4);
        low = _mm512_dpbusd_epi32(low, lo[j], _mm512_set1_epi32(a));
        high = _mm512_dpbusd_epi32(high, hi[j], _mm512_set1_epi32(c));
      }
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(low, high)),
                               _mm512_mul_ps(s, _mm512_set1_ps(d[t][b])), acc[t]);
    }
  };
  int64_t b = 0;
  for (; b + 2 <= num_blocks; b += 2) {
    block(b, even);
    block(b + 1, odd);
  }
  if (b < num_blocks) block(b, even);
  for (int t = 0; t < kTokens; ++t)
    out[t] = _mm512_add_ps(even[t], odd[t]);
}

void rows_int4_tiles(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
                     float* y) {
  const bool prefetch = in.num_tokens <= 4;
  __m512 acc[4];
  alignas(64) float out[16];
  for (int64_t tile = begin / 16; tile * 16 < end; ++tile) {
    const int64_t first = tile * 16 > begin ? tile * 16 : begin;
    const int64_t last = tile * 16 + 16 < end ? tile * 16 + 16 : end;
    for (int64_t m0 = 0; m0 < in.num_tokens; m0 += 4) {
      const int count = static_cast<int>(in.num_tokens - m0 < 4 ? in.num_tokens - m0 : 4);
      with_tile<4>(count, [&](auto t) {
        int4_tile_tokens<decltype(t)::value>(w, in, tile, m0, prefetch, acc);
      });
      for (int i = 0; i < count; ++i) {
        _mm512_store_ps(out, acc[i]);
        for (int64_t n = first; n < last; ++n)
          y[(m0 + i) * w.num_rows + n] = out[n - tile * 16] - int4_zero_offset(w, in, n, m0 + i);
      }
    }
  }
}

}  // namespace

LinearRowsFn linear_rows_int8dot_avx512vnni(PackedFormat format, bool int8_activations) {
  if (format == PackedFormat::kInt4Group) return &rows_int4_ymm;
  if (format == PackedFormat::kInt8Channel) return int8_activations ? &rows_w8a8 : &rows_w8a16;
  if (format == PackedFormat::kFp8Block) return &rows_fp8;
  if (format == PackedFormat::kBf16) return &rows_bf16;
  return nullptr;
}

LinearRowsFn linear_rows_int4_tiles_avx512vnni() {
  return &rows_int4_tiles;
}

}  // namespace mm
