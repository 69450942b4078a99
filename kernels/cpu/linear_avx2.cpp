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
constexpr int64_t kLanes = 8;

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// Dequantizers: 8 consecutive weights of one row starting at column k, as their exact f32
// values (set_group(g) first for the formats with group scales); `scalar` does one column.
// Every dequantized weight is exact in f32 (a small integer or an 8-bit float times a BF16/F32
// scale, rounded once by an FMA or multiply whose exact result is representable), so the
// kernels accumulate exactly the products the reference forms.
struct DequantF32 {
  const uint8_t* row;
  void set_group(int64_t) {}
  __m256 operator()(int64_t k) const {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  }
  float scalar(int64_t k) const {
    float v;
    std::memcpy(&v, row + 4 * k, 4);
    return v;
  }
};

struct DequantBf16 {
  const uint8_t* row;
  void set_group(int64_t) {}
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
struct DequantFp8 {
  const uint8_t* row;
  const float* scales;  // this row's block-row of scales, one per group
  float scale = 0;
  __m256 scale_v = _mm256_setzero_ps();
  void set_group(int64_t g) {
    scale = scales[g];
    scale_v = _mm256_set1_ps(scale * 256.0f);
  }
  __m256 operator()(int64_t k) const {
    const __m128i codes =
        _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k)));
    const __m128i half =
        _mm_and_si128(_mm_slli_epi16(codes, 7), _mm_set1_epi16(static_cast<short>(0xBF80)));
    return _mm256_mul_ps(_mm256_cvtph_ps(half), scale_v);
  }
  float scalar(int64_t k) const {
    const uint16_t code = row[k];
    const uint16_t half = static_cast<uint16_t>(((code & 0x7F) << 7) | ((code & 0x80) << 8));
    return _cvtsh_ss(half) * (scale * 256.0f);
  }
};

// 16 columns from one 8-byte load (kInt4Group chunk layout): zero-extend the bytes to 8 int32
// lanes; the low nibbles are columns 16c..16c+7 and the high ones 16c+8..16c+15. Then
// W = u · scale + bias in one FMA. operator()(k) serves k % 16 ∈ {0, 8} (group sizes are
// multiples of 16, so vectors never straddle chunks).
struct DequantInt4 {
  const uint8_t* row;
  const uint16_t* scales;  // this row's bf16 scales, one per group
  const int8_t* zeros;     // this row's zero points, or null (symmetric)
  float scale = 0, bias = 0;
  __m256 scale_v = _mm256_setzero_ps(), bias_v = _mm256_setzero_ps();
  void set_group(int64_t g) {
    const uint32_t wide = static_cast<uint32_t>(scales[g]) << 16;
    std::memcpy(&scale, &wide, 4);
    bias = -static_cast<float>(8 + (zeros != nullptr ? zeros[g] : 0)) * scale;
    scale_v = _mm256_set1_ps(scale);
    bias_v = _mm256_set1_ps(bias);
  }
  __m256i bytes(int64_t k) const {
    const uint64_t chunk = static_cast<uint64_t>(k) >> 4;
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * chunk)));
  }
  __m256 dequant(__m256i nibbles) const {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(nibbles), scale_v, bias_v);
  }
  void pair(int64_t k, __m256& w0, __m256& w1) const {
    const __m256i b = bytes(k);
    w0 = dequant(_mm256_and_si256(b, _mm256_set1_epi32(0xF)));
    w1 = dequant(_mm256_srli_epi32(b, 4));
  }
  __m256 operator()(int64_t k) const {
    const __m256i b = bytes(k);
    return dequant((k & 8) != 0 ? _mm256_srli_epi32(b, 4)
                                : _mm256_and_si256(b, _mm256_set1_epi32(0xF)));
  }
  float scalar(int64_t k) const {
    const uint64_t uk = static_cast<uint64_t>(k);
    const int u = (row[8 * (uk >> 4) + (uk & 7)] >> (4 * ((uk >> 3) & 1))) & 0xF;
    return __builtin_fmaf(static_cast<float>(u), scale, bias);
  }
};

struct DequantInt8 {
  const uint8_t* row;
  float scale;
  __m256 scale_v;
  void set_group(int64_t) {}
  __m256 operator()(int64_t k) const {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                             _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k)))),
                         scale_v);
  }
  float scalar(int64_t k) const { return static_cast<float>(static_cast<int8_t>(row[k])) * scale; }
};

// Group-scaled formats decoded without their scale: the products of one group are summed with
// the raw weights and the group's scale multiplies that sum once (grouped_tile below), instead of
// scaling every weight. Raw INT4 weights are the unsigned nibbles u, their offset 8 + z taken
// out once per row and token through the group sums of x (offset_term); raw FP8 weights are the
// e4m3 values times 2^−8 (the F16C trick above), the 2^8 folded into the scale. Both are exact
// in f32, so only the order of the f32 additions differs from the dequantize-first kernels.
struct RawInt4 {
  const uint8_t* row;
  const uint16_t* scales;  // this row's bf16 scales, one per group
  const int8_t* zeros;     // this row's zero points, or null (symmetric)
  int64_t num_groups;
  __m256 scale_v = _mm256_setzero_ps();
  void set_group(int64_t g) {
    // Both halves of each lane hold the bf16 bits; the shift leaves its f32 value.
    scale_v = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_set1_epi16(static_cast<short>(scales[g])), 16));
  }
  // Unsigned nibbles u (0..15) as f32; the offset is taken out by offset_term.
  void pair(int64_t k, __m256& w0, __m256& w1) const {
    const uint64_t chunk = static_cast<uint64_t>(k) >> 4;
    const __m256i b =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * chunk)));
    w0 = _mm256_cvtepi32_ps(_mm256_and_si256(b, _mm256_set1_epi32(0xF)));
    w1 = _mm256_cvtepi32_ps(_mm256_srli_epi32(b, 4));
  }
  // Σ_g (8 + z_g) · s_g · Σx_g for one token, 8 groups per step.
  float offset_term(const float* x_sums) const {
    __m256 acc = _mm256_setzero_ps();
    int64_t g = 0;
    for (; g + 8 <= num_groups; g += 8) {
      const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + g))),
          16));
      __m256 o = _mm256_set1_ps(8.0f);
      if (zeros != nullptr) {
        o = _mm256_add_ps(o, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                 _mm_loadl_epi64(reinterpret_cast<const __m128i*>(zeros + g)))));
      }
      acc = _mm256_fmadd_ps(_mm256_mul_ps(o, s), _mm256_loadu_ps(x_sums + g), acc);
    }
    float total = hsum(acc);
    for (; g < num_groups; ++g) {
      const uint32_t wide = static_cast<uint32_t>(scales[g]) << 16;
      float s;
      std::memcpy(&s, &wide, 4);
      const float o = 8.0f + (zeros != nullptr ? static_cast<float>(zeros[g]) : 0.0f);
      total += (o * s) * x_sums[g];
    }
    return total;
  }
};

struct RawFp8 {
  const uint8_t* row;
  const float* scales;  // this row's block-row of scales, one per group
  __m256 scale_v = _mm256_setzero_ps();
  void set_group(int64_t g) { scale_v = _mm256_set1_ps(scales[g] * 256.0f); }
  void pair(int64_t k, __m256& w0, __m256& w1) const {
    const __m256i codes =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k)));
    const __m256i half = _mm256_and_si256(_mm256_slli_epi16(codes, 7),
                                          _mm256_set1_epi16(static_cast<short>(0xBF80)));
    w0 = _mm256_cvtph_ps(_mm256_castsi256_si128(half));
    w1 = _mm256_cvtph_ps(_mm256_extracti128_si256(half, 1));
  }
};

// True when every group is whole and a multiple of 16 columns: the shape grouped_tile needs.
inline bool groups_fit_pairs(const LinearWeightsView& w) {
  return w.group_cols % (2 * kLanes) == 0 && w.num_groups * w.group_cols == w.num_cols;
}

// One weight row against `kTile` tokens, group by group. Per token: two chains (even / odd
// 8-column steps) sum a group's raw products; the sum times the group scale is added to the
// token's total (a multiply and an add rather than an FMA: the total's dependency chain is then
// one 3-cycle add per group). The sequence is the same for every tile size, so a token's result
// does not depend on the batch it is in. (Interleaving two rows for a lone token, to give the
// core more independent chains, measured slower: register spills.)
template <int kTile, int kSteps, class Raw>
inline void grouped_tile(Raw& dq, const LinearWeightsView& w, const float* const* xs,
                         const float* const* x_sums, float* out) {
  __m256 acc[kTile];
  for (int i = 0; i < kTile; ++i)
    acc[i] = _mm256_setzero_ps();
  const int64_t steps = kSteps > 0 ? kSteps : w.group_cols / (2 * kLanes);
  int64_t k = 0;
  for (int64_t g = 0; g < w.num_groups; ++g) {
    dq.set_group(g);
    __m256 s0[kTile], s1[kTile];
    __m256 w0, w1;
    dq.pair(k, w0, w1);
    for (int i = 0; i < kTile; ++i) {
      s0[i] = _mm256_mul_ps(w0, _mm256_loadu_ps(xs[i] + k));
      s1[i] = _mm256_mul_ps(w1, _mm256_loadu_ps(xs[i] + k + kLanes));
    }
    k += 2 * kLanes;
    for (int64_t j = 1; j < steps; ++j, k += 2 * kLanes) {
      dq.pair(k, w0, w1);
      for (int i = 0; i < kTile; ++i) {
        s0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[i] + k), s0[i]);
        s1[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xs[i] + k + kLanes), s1[i]);
      }
    }
    for (int i = 0; i < kTile; ++i)
      acc[i] = _mm256_add_ps(acc[i], _mm256_mul_ps(_mm256_add_ps(s0[i], s1[i]), dq.scale_v));
  }
  for (int i = 0; i < kTile; ++i) {
    out[i] = hsum(acc[i]);
    if constexpr (requires { dq.offset_term(x_sums[i]); }) out[i] -= dq.offset_term(x_sums[i]);
  }
}

// The common group sizes (32 for INT4, 128 for FP8 blocks and INT4 g128) with the step count a
// compile-time constant: the unrolled group loop saves the loop's own instructions, which at
// batch 1 cost as much as the arithmetic (the kernel is bound by instruction throughput).
template <int kTile, class Raw>
inline void grouped_tile_for(Raw& dq, const LinearWeightsView& w, const float* const* xs,
                             const float* const* x_sums, float* out) {
  switch (w.group_cols) {
    case 32:
      grouped_tile<kTile, 2>(dq, w, xs, x_sums, out);
      break;
    case 128:
      grouped_tile<kTile, 8>(dq, w, xs, x_sums, out);
      break;
    default:
      grouped_tile<kTile, 0>(dq, w, xs, x_sums, out);
      break;
  }
}

// Rows [begin, end) of a group-scaled format; make_raw(n) builds row n's decoder.
template <class MakeRaw>
inline void rows_grouped(const LinearWeightsView& w, const LinearInputs& in, int64_t begin,
                         int64_t end, float* y, MakeRaw make_raw) {
  const float* xs[kTokenTile];
  const float* x_sums[kTokenTile] = {};
  float out[kTokenTile];
  for (int64_t n = begin; n < end; ++n) {
    auto dq = make_raw(n);
    for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kTokenTile) {
      const int tile = static_cast<int>(min64(kTokenTile, in.num_tokens - m0));
      for (int i = 0; i < tile; ++i) {
        xs[i] = in.x + (m0 + i) * w.num_cols;
        if (in.x_group_sums != nullptr) x_sums[i] = in.x_group_sums + (m0 + i) * w.num_groups;
      }
      switch (tile) {
        case 4:
          grouped_tile_for<4>(dq, w, xs, x_sums, out);
          break;
        case 3:
          grouped_tile_for<3>(dq, w, xs, x_sums, out);
          break;
        case 2:
          grouped_tile_for<2>(dq, w, xs, x_sums, out);
          break;
        default:
          grouped_tile_for<1>(dq, w, xs, x_sums, out);
          break;
      }
      for (int i = 0; i < tile; ++i)
        y[(m0 + i) * w.num_rows + n] = out[i];
    }
  }
}

// 16 consecutive weights: one call for formats that decode them together (int4), else two.
template <class Dequant>
inline void dequant_pair(const Dequant& dq, int64_t k, __m256& w0, __m256& w1) {
  if constexpr (requires { dq.pair(k, w0, w1); }) {
    dq.pair(k, w0, w1);
  } else {
    w0 = dq(k);
    w1 = dq(k + kLanes);
  }
}

// One weight row against `kTile` tokens (xs[i] points at token i's activations). Each weight is
// dequantized once and used by all kTile tokens while it sits in a register. Two accumulators
// per token (even / odd 8-column steps) halve the FMA latency chain (5 cycles on Zen 2 /
// Skylake) that otherwise bounds a batch-1 row; the chain count is the same for every tile
// size, so a token's summation order never depends on its tile.
template <int kTile, class Dequant>
inline void row_tile(Dequant& dq, const LinearWeightsView& w, const float* const* xs, float* out) {
  __m256 acc0[kTile], acc1[kTile];
  float tail[kTile];
  for (int i = 0; i < kTile; ++i) {
    acc0[i] = _mm256_setzero_ps();
    acc1[i] = _mm256_setzero_ps();
    tail[i] = 0;
  }
  // One loop over the whole row in 16-column steps; the group scale changes only at group
  // boundaries (a counter, no division), so short groups (32 columns = 2 steps) cost no loop
  // setup. Groups that are not a multiple of 16 columns take the per-group loop below.
  int64_t k = 0;
  if (w.num_groups == 1 || w.group_cols % (2 * kLanes) == 0) {
    int64_t g = 0;
    int64_t next_boundary = w.group_cols;
    dq.set_group(0);
    for (; k + 2 * kLanes <= w.num_cols; k += 2 * kLanes) {
      if (k == next_boundary) {
        dq.set_group(++g);
        next_boundary += w.group_cols;
      }
      __m256 w0, w1;
      dequant_pair(dq, k, w0, w1);
      for (int i = 0; i < kTile; ++i) {
        acc0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[i] + k), acc0[i]);
        acc1[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xs[i] + k + kLanes), acc1[i]);
      }
    }
  }
  // Remaining columns (all of them for odd group sizes), group by group.
  for (int64_t g = k / w.group_cols; k < w.num_cols; ++g) {
    dq.set_group(g);
    const int64_t k_end = min64(w.num_cols, (g + 1) * w.group_cols);
    for (; k + kLanes <= k_end; k += kLanes) {
      const __m256 w0 = dq(k);
      for (int i = 0; i < kTile; ++i)
        acc0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[i] + k), acc0[i]);
    }
    for (; k < k_end; ++k) {
      const float wk = dq.scalar(k);
      for (int i = 0; i < kTile; ++i)
        tail[i] += wk * xs[i][k];
    }
  }
  for (int i = 0; i < kTile; ++i)
    out[i] = hsum(_mm256_add_ps(acc0[i], acc1[i])) + tail[i];
}

template <class Dequant>
inline void row_all_tokens(Dequant& dq, const LinearWeightsView& w, const LinearInputs& in,
                           int64_t n, float* y) {
  const float* xs[kTokenTile];
  float out[kTokenTile];
  for (int64_t m0 = 0; m0 < in.num_tokens; m0 += kTokenTile) {
    const int tile = static_cast<int>(min64(kTokenTile, in.num_tokens - m0));
    for (int i = 0; i < tile; ++i)
      xs[i] = in.x + (m0 + i) * w.num_cols;
    switch (tile) {
      case 4:
        row_tile<4>(dq, w, xs, out);
        break;
      case 3:
        row_tile<3>(dq, w, xs, out);
        break;
      case 2:
        row_tile<2>(dq, w, xs, out);
        break;
      default:
        row_tile<1>(dq, w, xs, out);
        break;
    }
    for (int i = 0; i < tile; ++i)
      y[(m0 + i) * w.num_rows + n] = out[i];
  }
}

void rows_f32(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
              float* y) {
  for (int64_t n = begin; n < end; ++n) {
    DequantF32 dq{w.data + n * w.row_bytes};
    row_all_tokens(dq, w, in, n, y);
  }
}

void rows_bf16(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
               float* y) {
  for (int64_t n = begin; n < end; ++n) {
    DequantBf16 dq{w.data + n * w.row_bytes};
    row_all_tokens(dq, w, in, n, y);
  }
}

void rows_fp8(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
              float* y) {
  if (groups_fit_pairs(w)) {
    rows_grouped(w, in, begin, end, y, [&](int64_t n) {
      return RawFp8{w.data + n * w.row_bytes, w.scales + (n / w.block_rows) * w.num_groups};
    });
    return;
  }
  for (int64_t n = begin; n < end; ++n) {
    DequantFp8 dq{w.data + n * w.row_bytes, w.scales + (n / w.block_rows) * w.num_groups};
    row_all_tokens(dq, w, in, n, y);
  }
}

void rows_int4(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
               float* y) {
  if (groups_fit_pairs(w) && in.x_group_sums != nullptr) {
    rows_grouped(w, in, begin, end, y, [&](int64_t n) {
      return RawInt4{w.data + n * w.row_bytes, w.int4_scales + n * w.num_groups,
                     w.int4_zeros != nullptr ? w.int4_zeros + n * w.num_groups : nullptr,
                     w.num_groups};
    });
    return;
  }
  for (int64_t n = begin; n < end; ++n) {
    DequantInt4 dq{w.data + n * w.row_bytes, w.int4_scales + n * w.num_groups,
                   w.int4_zeros != nullptr ? w.int4_zeros + n * w.num_groups : nullptr};
    row_all_tokens(dq, w, in, n, y);
  }
}

void rows_int8_w8a16(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
                     float* y) {
  for (int64_t n = begin; n < end; ++n) {
    DequantInt8 dq{w.data + n * w.row_bytes, w.scales[n], _mm256_set1_ps(w.scales[n])};
    row_all_tokens(dq, w, in, n, y);
  }
}

// W8A8: exact int32 dot products. 16 int8 → 16 int16 lanes, pmaddwd pairs them into 8 int32
// partial sums (no overflow: |a·b| ≤ 128·128, pair sums ≤ 2^15, K ≤ 2^16 keeps int32 exact).
void rows_w8a8(const LinearWeightsView& w, const LinearInputs& in, int64_t begin, int64_t end,
               float* y) {
  const int64_t k_cols = w.num_cols;
  for (int64_t n = begin; n < end; ++n) {
    const int8_t* row = reinterpret_cast<const int8_t*>(w.data + n * k_cols);
    for (int64_t m = 0; m < in.num_tokens; ++m) {
      const int8_t* xq = in.xq + m * k_cols;
      __m256i acc = _mm256_setzero_si256();
      int64_t k = 0;
      for (; k + 16 <= k_cols; k += 16) {
        const __m256i wv =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k)));
        const __m256i xv =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + k)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(wv, xv));
      }
      __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
      int32_t total = _mm_cvtsi128_si32(s);
      for (; k < k_cols; ++k)
        total += static_cast<int32_t>(row[k]) * xq[k];
      y[m * w.num_rows + n] = (static_cast<float>(total) * in.x_scales[m]) * w.scales[n];
    }
  }
}

}  // namespace

LinearRowsFn linear_rows_avx2(PackedFormat format, bool int8_activations) {
  switch (format) {
    case PackedFormat::kF32:
      return &rows_f32;
    case PackedFormat::kBf16:
      return &rows_bf16;
    case PackedFormat::kFp8Block:
      return &rows_fp8;
    case PackedFormat::kInt4Group:
      return &rows_int4;
    case PackedFormat::kInt8Channel:
      return int8_activations ? &rows_w8a8 : &rows_int8_w8a16;
  }
  return nullptr;
}

}  // namespace mm
