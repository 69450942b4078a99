// AVX2 + FMA + F16C row kernels for linear_cpu. Compiled with -mavx2 -mfma -mf16c and called
// only when detected_cpu_isa() says the CPU has them.
//
// Shape of the work: one weight row is decoded 8 columns at a time into a __m256 (8 f32 lanes:
// the AVX2 register width) and multiplied into up to kTokenTile token accumulators, so a
// decoded weight is reused by kTokenTile tokens while it sits in a register. kTokenTile = 4
// keeps 4 accumulators + 4 group totals + the weight well inside the 16 ymm registers.
// Every token's result is computed by the same instruction sequence whatever the tile it falls
// in, so a token's output does not depend on the batch it is in (batch-vs-alone is bit-exact).
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/linear.h"

namespace mm {
namespace {

constexpr int kTokenTile = 4;
constexpr int kLanes = 8;

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Decoders: 8 consecutive weights of one row starting at column k, as f32, before the group
// scale; `scalar` decodes one column (tails). `kScaleFactor` is folded into the group scale.
struct DecodeF32 {
  static constexpr float kScaleFactor = 1.0f;
  const uint8_t* row;
  __m256 operator()(int64_t k) const { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k); }
  float scalar(int64_t k) const {
    float v;
    std::memcpy(&v, row + 4 * k, 4);
    return v;
  }
};

struct DecodeBf16 {
  static constexpr float kScaleFactor = 1.0f;
  const uint8_t* row;
  __m256 operator()(int64_t k) const {
    const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  }
  float scalar(int64_t k) const {
    uint16_t bits;
    std::memcpy(&bits, row + 2 * k, 2);
    const uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float v;
    std::memcpy(&v, &wide, 4);
    return v;
  }
};

// e4m3fn → f16 by moving the bits: s.eeee.mmm → s.0eeee.mmm0000000. Both formats have
// subnormals, so the result is exactly the e4m3 value times 2^(7−15) = 2^−8 for every finite
// code; F16C widens it to f32 and the 2^8 is folded into the block scale (exact: power of two).
// Sign-extending the byte to 16 bits and shifting left by 7 puts the sign in bit 15 and the
// magnitude in bits 13..7; the extension's copy of the sign lands in bit 14, which the mask
// 0xBF80 clears (3 integer ops per 8 weights).
struct DecodeFp8 {
  static constexpr float kScaleFactor = 256.0f;
  const uint8_t* row;
  __m256 operator()(int64_t k) const {
    const __m128i codes = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k)));
    const __m128i half = _mm_and_si128(_mm_slli_epi16(codes, 7), _mm_set1_epi16(static_cast<short>(0xBF80)));
    return _mm256_cvtph_ps(half);
  }
  float scalar(int64_t k) const {
    const uint16_t code = row[k];
    const uint16_t half = static_cast<uint16_t>(((code & 0x7F) << 7) | ((code & 0x80) << 8));
    return _cvtsh_ss(half);
  }
};

// 8 nibbles from 4 bytes (k is even: groups and vectors start at even columns); column k + i
// is bits 4i..4i+3 of the little-endian 32-bit word.
struct DecodeInt4 {
  static constexpr float kScaleFactor = 1.0f;
  const uint8_t* row;
  __m256 operator()(int64_t k) const {
    uint32_t word;
    std::memcpy(&word, row + k / 2, 4);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i nibbles = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(word)), shifts),
                                             _mm256_set1_epi32(0xF));
    return _mm256_cvtepi32_ps(nibbles);
  }
  float scalar(int64_t k) const { return static_cast<float>((row[k / 2] >> (4 * (k % 2))) & 0xF); }
};

struct DecodeInt8 {
  static constexpr float kScaleFactor = 1.0f;
  const uint8_t* row;
  __m256 operator()(int64_t k) const {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k))));
  }
  float scalar(int64_t k) const { return static_cast<float>(static_cast<int8_t>(row[k])); }
};

// One weight row against `kTile` tokens. scale(g) / bias(g) give group g's multiplier and
// (int4 only) additive term; xs[i] points at token i's activations, gsums[i] at its group sums.
// Two accumulators per token (even / odd 8-column steps) halve the FMA latency chain (5 cycles
// on Zen 2 / Skylake), which otherwise bounds a batch-1 row; the chain count is the same for
// every tile size, so a token's summation order never depends on its tile.
template <int kTile, bool kHasBias, class Decode, class ScaleOf, class BiasOf>
inline void row_tile(const Decode& decode, const LinearWeightsView& w, const float* const* xs,
                     const float* const* gsums, ScaleOf scale_of, BiasOf bias_of, float* out) {
  __m256 total[kTile];
  float tail_total[kTile];
  for (int i = 0; i < kTile; ++i) {
    total[i] = _mm256_setzero_ps();
    tail_total[i] = 0;
  }
  for (int64_t g = 0; g < w.num_groups; ++g) {
    const int64_t k_begin = g * w.group_cols;
    const int64_t k_end = min64(w.num_cols, k_begin + w.group_cols);
    __m256 acc0[kTile], acc1[kTile];
    float tail[kTile];
    for (int i = 0; i < kTile; ++i) {
      acc0[i] = _mm256_setzero_ps();
      acc1[i] = _mm256_setzero_ps();
      tail[i] = 0;
    }
    int64_t k = k_begin;
    for (; k + 2 * kLanes <= k_end; k += 2 * kLanes) {
      const __m256 w0 = decode(k);
      const __m256 w1 = decode(k + kLanes);
      for (int i = 0; i < kTile; ++i) {
        acc0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[i] + k), acc0[i]);
        acc1[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xs[i] + k + kLanes), acc1[i]);
      }
    }
    if (k + kLanes <= k_end) {
      const __m256 w0 = decode(k);
      for (int i = 0; i < kTile; ++i) acc0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[i] + k), acc0[i]);
      k += kLanes;
    }
    for (; k < k_end; ++k) {
      const float wk = decode.scalar(k);
      for (int i = 0; i < kTile; ++i) tail[i] += wk * xs[i][k];
    }
    const float s = scale_of(g) * Decode::kScaleFactor;
    const __m256 sv = _mm256_set1_ps(s);
    for (int i = 0; i < kTile; ++i) {
      total[i] = _mm256_fmadd_ps(_mm256_add_ps(acc0[i], acc1[i]), sv, total[i]);
      tail_total[i] += tail[i] * s;
      if constexpr (kHasBias) tail_total[i] += bias_of(g) * gsums[i][g];
    }
  }
  for (int i = 0; i < kTile; ++i) out[i] = hsum(total[i]) + tail_total[i];
}

template <bool kHasBias, class Decode, class ScaleOf, class BiasOf>
inline void row_all_tokens(const Decode& decode, const LinearWeightsView& w, const LinearInputs& in,
                           int64_t n, ScaleOf scale_of, BiasOf bias_of, float* y) {
  const float* xs[kTokenTile];
  const float* gsums[kTokenTile];
  float out[kTokenTile];
  for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kTokenTile) {
    const int tile = static_cast<int>(min64(kTokenTile, in.num_tokens - m0));
    for (int i = 0; i < tile; ++i) {
      xs[i] = in.x + (m0 + i) * w.num_cols;
      gsums[i] = kHasBias ? in.group_sums + (m0 + i) * w.num_groups : nullptr;
    }
    switch (tile) {
      case 4: row_tile<4, kHasBias>(decode, w, xs, gsums, scale_of, bias_of, out); break;
      case 3: row_tile<3, kHasBias>(decode, w, xs, gsums, scale_of, bias_of, out); break;
      case 2: row_tile<2, kHasBias>(decode, w, xs, gsums, scale_of, bias_of, out); break;
      default: row_tile<1, kHasBias>(decode, w, xs, gsums, scale_of, bias_of, out); break;
    }
    for (int i = 0; i < tile; ++i) y[(m0 + i) * w.num_rows + n] = out[i];
  }
}

constexpr auto kNoBias = [](int64_t) { return 0.0f; };
constexpr auto kUnitScale = [](int64_t) { return 1.0f; };

void rows_f32(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end, float* y) {
  for (int64_t n = begin; n < end; ++n)
    row_all_tokens<false>(DecodeF32{w.data + n * w.row_bytes}, w, in, n, kUnitScale, kNoBias, y);
}

void rows_bf16(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end, float* y) {
  for (int64_t n = begin; n < end; ++n)
    row_all_tokens<false>(DecodeBf16{w.data + n * w.row_bytes}, w, in, n, kUnitScale, kNoBias, y);
}

void rows_fp8(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end, float* y) {
  for (int64_t n = begin; n < end; ++n) {
    const float* scales = w.scales + (n / w.block_rows) * w.num_groups;
    row_all_tokens<false>(DecodeFp8{w.data + n * w.row_bytes}, w, in, n,
                          [scales](int64_t g) { return scales[g]; }, kNoBias, y);
  }
}

void rows_int4(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end, float* y) {
  for (int64_t n = begin; n < end; ++n) {
    const float* scales = w.scales + n * w.num_groups;
    const float* biases = w.biases + n * w.num_groups;
    row_all_tokens<true>(DecodeInt4{w.data + n * w.row_bytes}, w, in, n,
                         [scales](int64_t g) { return scales[g]; },
                         [biases](int64_t g) { return biases[g]; }, y);
  }
}

void rows_int8_w8a16(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
                     float* y) {
  for (int64_t n = begin; n < end; ++n) {
    const float s = w.scales[n];
    row_all_tokens<false>(DecodeInt8{w.data + n * w.row_bytes}, w, in, n,
                          [s](int64_t) { return s; }, kNoBias, y);
  }
}

// W8A8: exact int32 dot products. 16 int8 → 16 int16 lanes, pmaddwd pairs them into 8 int32
// partial sums (no overflow: |a·b| ≤ 128·128, pair sums ≤ 2^15, K ≤ 2^16 keeps int32 exact).
void rows_w8a8(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end, float* y) {
  const int64_t k_cols = w.num_cols;
  for (int64_t n = begin; n < end; ++n) {
    const int8_t* row = reinterpret_cast<const int8_t*>(w.data + n * k_cols);
    for (int64_t m = 0; m < in.num_tokens; ++m) {
      const int8_t* xq = in.xq + m * k_cols;
      __m256i acc = _mm256_setzero_si256();
      int64_t k = 0;
      for (; k + 16 <= k_cols; k += 16) {
        const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k)));
        const __m256i xv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + k)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(wv, xv));
      }
      __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
      int32_t total = _mm_cvtsi128_si32(s);
      for (; k < k_cols; ++k) total += static_cast<int32_t>(row[k]) * xq[k];
      y[m * w.num_rows + n] = (static_cast<float>(total) * in.x_scales[m]) * w.scales[n];
    }
  }
}

}  // namespace

LinearRowsFn linear_rows_avx2(PackedFormat format, bool int8_activations) {
  switch (format) {
    case PackedFormat::kF32: return &rows_f32;
    case PackedFormat::kBf16: return &rows_bf16;
    case PackedFormat::kFp8Block: return &rows_fp8;
    case PackedFormat::kInt4Group: return &rows_int4;
    case PackedFormat::kInt8Channel: return int8_activations ? &rows_w8a8 : &rows_int8_w8a16;
  }
  return nullptr;
}

}  // namespace mm
