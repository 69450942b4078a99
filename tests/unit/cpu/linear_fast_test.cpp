// The fast (int8-dot) linear kernels, every dispatch path this CPU has (scalar, AVX2,
// AVX-VNNI, AVX-512 VNNI; a path the CPU lacks is skipped by name), against a double reference
// that quantizes the activations itself; the VNNI paths against AVX2 (the reference path); and
// the rounding bound that the fast golden tolerance (runner golden_fast_test.cpp) builds on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>

#include "kernels/cpu/int4_row_tiles.h"
#include "kernels/cpu/linear.h"
#include "tests/unit/cpu/random_weights.h"

namespace mm::testing {
namespace {

// x quantized as the fast kernels do (linear_int8dot.cpp), written independently: per block of
// 32 packed columns d = amax / 127, q = rne(x · 127 / amax); returns d · q per column.
std::vector<double> dequantized_activations(const float* x, int64_t k_cols) {
  std::vector<double> out(static_cast<size_t>(k_cols));
  for (int64_t b = 0; b < k_cols / 32; ++b) {
    float amax = 0;
    for (int64_t k = 32 * b; k < 32 * b + 32; ++k)
      amax = std::max(amax, std::fabs(x[k]));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int64_t k = 32 * b; k < 32 * b + 32; ++k)
      out[static_cast<size_t>(k)] =
          static_cast<double>(std::nearbyint(x[k] * inv)) * (amax / 127.0f);
  }
  return out;
}

struct Case {
  PackedFormat format;
  int64_t group_cols;
  bool asymmetric;
  bool permuted;
  std::vector<int64_t> k_list;
  const char* label;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      // 96 = 3 blocks and 160 = 5, 224 = 7: odd pairs (ymm) and 1- and 3-block tails (zmm).
      {PackedFormat::kInt4Group, 32, false, false, {32, 96, 160, 224, 256}, "int4_g32_sym"},
      {PackedFormat::kInt4Group, 128, true, false, {128, 384}, "int4_g128_asym"},
      {PackedFormat::kInt4Group, 64, false, false, {64, 192, 320}, "int4_g64_sym"},
      {PackedFormat::kInt4Group, 96, true, false, {96, 288}, "int4_g96_asym"},
      {PackedFormat::kInt4Group, 1 << 20, false, false, {32, 160}, "int4_channel"},
      {PackedFormat::kInt4Group, 32, true, true, {96, 256}, "int4_g32_asym_actorder"},
      {PackedFormat::kInt8Channel, 0, false, false, {32, 96, 160, 256}, "int8_w8a16"},
      // FP8 keeps f32 activations (AVX-512: a zmm kernel; elsewhere the exact one).
      {PackedFormat::kFp8Block, 128, false, false, {128, 384}, "fp8_block128"},
      {PackedFormat::kFp8Block, 32, false, false, {32, 96, 160}, "fp8_block32"},
      // BF16 likewise (AVX-512: a zmm kernel with eight-token tiles).
      {PackedFormat::kBf16, 0, false, false, {32, 96, 160, 1024}, "bf16"},
  };
  return all;
}

// Runs `c` through `isa` over awkward token and row counts; checks every output against the
// double reference on the same quantized activations. The kernels' only other rounding is f32:
// the block dots are exact int32, each scaled product is rounded once and summed in f32, and
// the int4 offset Σ (8 + z)·s·X is a second f32 sum of terms no larger than (8 + |z|)·s·|x̂|:
// |error| ≤ γ_{K+2} · Σ_k (|u_k| + 8 + |z|)·s·|x̂_k| with γ_n ≈ n·2^-24 (Higham); the int8 case
// has no offset term.
void check_against_reference(CpuIsa isa, const Case& c) {
  ThreadPool pool(3);
  std::mt19937 rng(4321);
  for (int64_t k_cols : c.k_list) {
    for (int64_t m_tokens : {1, 3, 4, 5, 17}) {
      for (int64_t n_rows : {1, 3, 17, 127}) {
        const int64_t group = std::min(c.group_cols, k_cols);
        const PackedLinear w =
            random_linear(rng, c.format, n_rows, k_cols, group, 1, c.asymmetric, c.permuted);
        const std::vector<float> dense = unpack_to_f32(w);  // checkpoint column order
        const std::vector<float> x = random_normal(rng, static_cast<size_t>(m_tokens * k_cols));
        std::vector<float> y(static_cast<size_t>(m_tokens * n_rows), NAN);
        linear_cpu(pool, isa, w, x.data(), m_tokens, y.data(), CpuNumerics::kFast);
        for (int64_t m = 0; m < m_tokens; ++m) {
          // Blocks are over packed columns: quantize x in packed order.
          std::vector<float> xp(static_cast<size_t>(k_cols));
          for (int64_t j = 0; j < k_cols; ++j)
            xp[static_cast<size_t>(j)] = x[static_cast<size_t>(
                m * k_cols + (w.col_perm.empty() ? j : w.col_perm[static_cast<size_t>(j)]))];
          std::vector<double> xq(xp.begin(), xp.end());  // FP8: activations stay f32
          if (c.format != PackedFormat::kFp8Block && c.format != PackedFormat::kBf16)
            xq = dequantized_activations(xp.data(), k_cols);
          for (int64_t n = 0; n < n_rows; ++n) {
            double ref = 0, scale = 0;
            for (int64_t j = 0; j < k_cols; ++j) {
              const int64_t col = w.col_perm.empty() ? j : w.col_perm[static_cast<size_t>(j)];
              const double wv = dense[static_cast<size_t>(n * k_cols + col)];
              ref += xq[static_cast<size_t>(j)] * wv;
              double mag = std::fabs(wv);
              if (c.format == PackedFormat::kInt4Group) {
                const size_t g = static_cast<size_t>(n * w.num_groups() + j / w.group_cols);
                const double s = bf16_to_f32(w.int4_scales[g]);
                const int z = w.int4_zeros.empty() ? 0 : w.int4_zeros[g];
                mag =
                    (int4_chunked_get(w.data.data() + n * w.row_bytes(), j) + 8 + std::abs(z)) * s;
              }
              scale += mag * std::fabs(xq[static_cast<size_t>(j)]);
            }
            const double tol =
                static_cast<double>(k_cols + 2) * std::ldexp(1.0, -24) * scale + 1e-30;
            ASSERT_NEAR(y[static_cast<size_t>(m * n_rows + n)], ref, tol)
                << c.label << " isa " << cpu_isa_name(isa) << " M=" << m_tokens << " N=" << n_rows
                << " K=" << k_cols << " at (" << m << "," << n << ")";
          }
        }
      }
    }
  }
}

class FastLinearTest : public ::testing::TestWithParam<CpuIsa> {
 protected:
  void SetUp() override {
    if (!cpu_supports(GetParam()))
      GTEST_SKIP() << "this CPU lacks " << cpu_isa_name(GetParam()) << ": path not tested here";
    std::printf("fast linear path under test: %s\n", std::string(cpu_isa_name(GetParam())).c_str());
  }
};

TEST_P(FastLinearTest, MatchesQuantizedDoubleReference) {
  for (const Case& c : cases())
    check_against_reference(GetParam(), c);
}

// The fast kernels' integer dots and f32 steps are the same for a token whatever tile or batch
// it lands in.
TEST_P(FastLinearTest, TokenResultIndependentOfBatch) {
  ThreadPool pool(2);
  std::mt19937 rng(6);
  for (const Case& c : cases()) {
    const int64_t k_cols = c.k_list.back();
    const PackedLinear w = random_linear(rng, c.format, 33, k_cols, std::min(c.group_cols, k_cols),
                                         1, c.asymmetric, c.permuted);
    const std::vector<float> x = random_normal(rng, static_cast<size_t>(7 * k_cols));
    std::vector<float> all(7 * 33);
    linear_cpu(pool, GetParam(), w, x.data(), 7, all.data(), CpuNumerics::kFast);
    for (int64_t m = 0; m < 7; ++m) {
      std::vector<float> one(33);
      linear_cpu(pool, GetParam(), w, x.data() + m * k_cols, 1, one.data(), CpuNumerics::kFast);
      for (int64_t n = 0; n < 33; ++n)
        ASSERT_EQ(one[static_cast<size_t>(n)], all[static_cast<size_t>(m * 33 + n)])
            << c.label << " token " << m;
    }
    // Two tokens: the kernels' two-row tiles (one token runs four rows per pass, seven one).
    for (int64_t m = 0; m + 2 <= 7; m += 2) {
      std::vector<float> two(2 * 33);
      linear_cpu(pool, GetParam(), w, x.data() + m * k_cols, 2, two.data(), CpuNumerics::kFast);
      for (int64_t n = 0; n < 2 * 33; ++n)
        ASSERT_EQ(two[static_cast<size_t>(n)], all[static_cast<size_t>(m * 33 + n)])
            << c.label << " tokens " << m << "-" << m + 1;
    }
  }
}

// Against the exact f32 kernels: the fast result may differ only by the activation rounding,
// |x − d·q| ≤ d/2 = amax_b/254 per column, so |fast − exact| ≤ Σ_k |W_k| · amax_b(k) / 254 plus
// the f32 terms of both (bounded as above). This is the bound golden_fast_test.cpp builds on.
TEST_P(FastLinearTest, DiffersFromExactOnlyByActivationRounding) {
  ThreadPool pool(2);
  std::mt19937 rng(77);
  for (const Case& c : cases()) {
    const int64_t k_cols = c.k_list.back();
    const PackedLinear w = random_linear(rng, c.format, 29, k_cols, std::min(c.group_cols, k_cols),
                                         1, c.asymmetric, c.permuted);
    const std::vector<float> dense = unpack_to_f32(w);
    const std::vector<float> x = random_normal(rng, static_cast<size_t>(5 * k_cols));
    std::vector<float> exact(5 * 29), fast(5 * 29);
    linear_cpu(pool, CpuIsa::kScalar, w, x.data(), 5, exact.data(), CpuNumerics::kExact);
    linear_cpu(pool, GetParam(), w, x.data(), 5, fast.data(), CpuNumerics::kFast);
    for (int64_t m = 0; m < 5; ++m) {
      for (int64_t n = 0; n < 29; ++n) {
        double bound = 0, terms = 0;
        for (int64_t j = 0; j < k_cols; ++j) {
          const int64_t col = w.col_perm.empty() ? j : w.col_perm[static_cast<size_t>(j)];
          float amax = 0;
          for (int64_t i = j - j % 32; i < j - j % 32 + 32; ++i) {
            const int64_t ci = w.col_perm.empty() ? i : w.col_perm[static_cast<size_t>(i)];
            amax = std::max(amax, std::fabs(x[static_cast<size_t>(m * k_cols + ci)]));
          }
          const double wv = std::fabs(dense[static_cast<size_t>(n * k_cols + col)]);
          bound += wv * amax / 254.0;
          terms += 24.0 * wv * std::fabs(x[static_cast<size_t>(m * k_cols + col)]) + wv * amax;
        }
        bound += 2.0 * static_cast<double>(k_cols + 2) * std::ldexp(1.0, -24) * terms;
        const size_t at = static_cast<size_t>(m * 29 + n);
        ASSERT_LE(std::fabs(static_cast<double>(fast[at]) - exact[at]), bound)
            << c.label << " at (" << m << "," << n << ")";
      }
    }
  }
}

// W8A8 keeps the checkpoint's per-token quantization: fast equals exact bit for bit.
TEST_P(FastLinearTest, W8a8IsBitIdenticalToExact) {
  ThreadPool pool(2);
  std::mt19937 rng(99);
  for (int64_t m_tokens : {1, 3, 5, 17}) {
    for (int64_t k_cols : {1, 17, 64, 127, 300}) {
      PackedLinear w = random_linear(rng, PackedFormat::kInt8Channel, 19, k_cols);
      w.int8_activations = true;
      const std::vector<float> x = random_normal(rng, static_cast<size_t>(m_tokens * k_cols));
      std::vector<float> exact(static_cast<size_t>(m_tokens * 19)), fast(exact.size());
      linear_cpu(pool, CpuIsa::kScalar, w, x.data(), m_tokens, exact.data(), CpuNumerics::kExact);
      linear_cpu(pool, GetParam(), w, x.data(), m_tokens, fast.data(), CpuNumerics::kFast);
      ASSERT_EQ(exact, fast) << "M=" << m_tokens << " K=" << k_cols;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, FastLinearTest,
                         ::testing::Values(CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvxVnni,
                                           CpuIsa::kAvx512Vnni),
                         [](const ::testing::TestParamInfo<CpuIsa>& param_info) {
                           return std::string(cpu_isa_name(param_info.param));
                         });

// AVX2 is the reference path: AVX-VNNI forms the same int32 dots with one instruction and the
// same f32 steps, so it must agree bit for bit; AVX-512 INT8 groups two blocks per register (a
// different f32 summation order), so it agrees within the f32 bound of the reference test.
TEST(FastLinearPaths, AvxVnniIsBitIdenticalToAvx2) {
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvxVnni}) {
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << cpu_isa_name(isa);
  }
  ThreadPool pool(2);
  std::mt19937 rng(8);
  for (const Case& c : cases()) {
    for (int64_t k_cols : c.k_list) {
      const PackedLinear w = random_linear(
          rng, c.format, 37, k_cols, std::min(c.group_cols, k_cols), 1, c.asymmetric, c.permuted);
      const std::vector<float> x = random_normal(rng, static_cast<size_t>(9 * k_cols));
      std::vector<float> a(9 * 37), b(9 * 37);
      linear_cpu(pool, CpuIsa::kAvx2, w, x.data(), 9, a.data(), CpuNumerics::kFast);
      linear_cpu(pool, CpuIsa::kAvxVnni, w, x.data(), 9, b.data(), CpuNumerics::kFast);
      ASSERT_EQ(a, b) << c.label << " K=" << k_cols;
    }
  }
}

// AVX-512 INT4 runs two kernels, both with AVX2's f32 steps: the ymm ones (EVEX vpdpbusd) on
// weights in the packed row layout, and sixteen-row tiles on weights the CPU backend made
// resident so (int4_row_tiles.h: only the layout and the instructions change). Every shape
// (37 rows: a padded last tile; odd block counts; g32 to one group; zero points; act-order) and
// token count must give AVX2's bits on both, and tiling releases the row data.
TEST(FastLinearPaths, Avx512Int4AndItsRowTilesAreBitIdenticalToAvx2) {
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512Vnni}) {
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << cpu_isa_name(isa);
  }
  ThreadPool pool(2);
  std::mt19937 rng(10);
  int compared = 0;
  for (const Case& c : cases()) {
    if (c.format != PackedFormat::kInt4Group) continue;
    for (int64_t k_cols : c.k_list) {
      const PackedLinear w = random_linear(
          rng, c.format, 37, k_cols, std::min(c.group_cols, k_cols), 1, c.asymmetric, c.permuted);
      ASSERT_TRUE(int4_tiles_fit(w)) << c.label;
      PackedLinear tiled = w;
      make_int4_tiles_resident(tiled);
      ASSERT_NE(int4_row_tiles(tiled), nullptr);
      EXPECT_TRUE(tiled.data.empty()) << "the row data must be released";
      // 3 tiles of 16 rows, 256 bytes per block each, the scales and what stays on the host.
      EXPECT_GE(tiled.num_bytes(), static_cast<uint64_t>(3 * (k_cols / 32) * 256));
      for (int64_t m_tokens : {1, 2, 3, 4, 5, 9}) {
        const std::vector<float> x = random_normal(rng, static_cast<size_t>(m_tokens * k_cols));
        std::vector<float> ref(static_cast<size_t>(m_tokens * 37)), rows(ref.size()),
            tiles(ref.size());
        linear_cpu(pool, CpuIsa::kAvx2, w, x.data(), m_tokens, ref.data(), CpuNumerics::kFast);
        linear_cpu(pool, CpuIsa::kAvx512Vnni, w, x.data(), m_tokens, rows.data(),
                   CpuNumerics::kFast);
        linear_cpu(pool, CpuIsa::kAvx512Vnni, tiled, x.data(), m_tokens, tiles.data(),
                   CpuNumerics::kFast);
        ASSERT_EQ(ref, rows) << "packed rows " << c.label << " K=" << k_cols << " M=" << m_tokens;
        ASSERT_EQ(ref, tiles) << "row tiles " << c.label << " K=" << k_cols << " M=" << m_tokens;
        ++compared;
      }
      // Nothing else can read the tiles: asking for another path is an error, not a crash.
      std::vector<float> x(static_cast<size_t>(k_cols), 0.5f), y(37);
      EXPECT_THROW(
          linear_cpu(pool, CpuIsa::kAvx2, tiled, x.data(), 1, y.data(), CpuNumerics::kFast),
          std::logic_error);
      EXPECT_THROW(
          linear_cpu(pool, CpuIsa::kAvx512Vnni, tiled, x.data(), 1, y.data(), CpuNumerics::kExact),
          std::logic_error);
    }
  }
  EXPECT_EQ(compared, 6 * 16);  // six token counts × the 16 INT4 shapes of cases()
}

// The same at MiniMax-M2's own expert shapes (w1 / w3: 1536 × 3072, w2: 3072 × 1536) in the
// seed checkpoints' formats (AWQ g128 with zero points, g32 symmetric), through
// run_linear_tasks' row chunks as the MoE calls them.
TEST(FastLinearPaths, Int4RowTilesAtMiniMaxExpertShapes) {
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512Vnni}) {
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << cpu_isa_name(isa);
  }
  ThreadPool pool(2);
  std::mt19937 rng(11);
  struct Shape {
    int64_t rows, cols, group;
    bool asymmetric;
  };
  for (const Shape& s : {Shape{1536, 3072, 128, true}, Shape{3072, 1536, 32, false}}) {
    const PackedLinear w =
        random_linear(rng, PackedFormat::kInt4Group, s.rows, s.cols, s.group, 1, s.asymmetric);
    PackedLinear tiled = w;
    make_int4_tiles_resident(tiled);
    for (int64_t m_tokens : {1, 6}) {
      const std::vector<float> x = random_normal(rng, static_cast<size_t>(m_tokens * s.cols));
      std::vector<float> ref(static_cast<size_t>(m_tokens * s.rows)), got(ref.size());
      linear_cpu(pool, CpuIsa::kAvx2, w, x.data(), m_tokens, ref.data(), CpuNumerics::kFast);
      linear_cpu(pool, CpuIsa::kAvx512Vnni, tiled, x.data(), m_tokens, got.data(),
                 CpuNumerics::kFast);
      ASSERT_EQ(ref, got) << s.rows << "x" << s.cols << " g" << s.group << " M=" << m_tokens;
    }
  }
}

// Prefill-sized calls run the row kernels in passes of a few tokens (linear.cpp,
// tokens_per_pass): every output must be the one a call with that token alone computes, bit
// for bit, in every format, both numerics and every path this CPU has.
TEST(LinearTokenPasses, ManyTokensEqualEachTokenAloneBitForBit) {
  ThreadPool pool(2);
  std::mt19937 rng(2026);
  constexpr int64_t kTokens = 75;  // passes of 8 (f32 x) or 32 (int8 x), then a ragged tail
  for (const PackedFormat format : {PackedFormat::kBf16, PackedFormat::kFp8Block,
                                    PackedFormat::kInt4Group, PackedFormat::kInt8Channel}) {
    for (const bool w8a8 : {false, true}) {
      if (w8a8 && format != PackedFormat::kInt8Channel) continue;
      PackedLinear w = random_linear(rng, format, 40, 1024, 128, 16);
      w.int8_activations = w8a8;
      const std::vector<float> x = random_normal(rng, static_cast<size_t>(kTokens * 1024));
      for (const CpuIsa isa :
           {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvxVnni, CpuIsa::kAvx512Vnni}) {
        if (!cpu_supports(isa)) continue;
        for (const CpuNumerics numerics : {CpuNumerics::kExact, CpuNumerics::kFast}) {
          std::vector<float> together(static_cast<size_t>(kTokens * 40));
          linear_cpu(pool, isa, w, x.data(), kTokens, together.data(), numerics);
          for (int64_t m = 0; m < kTokens; ++m) {
            std::vector<float> alone(40);
            linear_cpu(pool, isa, w, x.data() + m * 1024, 1, alone.data(), numerics);
            for (int64_t n = 0; n < 40; ++n) {
              ASSERT_EQ(together[static_cast<size_t>(m * 40 + n)], alone[static_cast<size_t>(n)])
                  << "format " << static_cast<int>(format) << (w8a8 ? " w8a8 " : " ")
                  << cpu_isa_name(isa) << " " << cpu_numerics_name(numerics) << " token " << m
                  << " row " << n;
            }
          }
        }
      }
    }
  }
}

TEST(FastLinearQuantizer, Avx2IsBitIdenticalToTheScalarQuantizer) {
  if (!cpu_supports(CpuIsa::kAvx2)) GTEST_SKIP() << "this CPU lacks avx2: path not tested here";
  std::mt19937 rng(31);
  for (const int64_t num_blocks : {1, 2, 3, 5, 8, 33}) {
    std::vector<float> x = random_normal(rng, static_cast<size_t>(32 * num_blocks));
    // Ties: block 0 has amax 254 (scale 1/2), so odd integers land on .5 and round to even.
    x[0] = 254.0f;
    for (int j = 1; j < 32; ++j)
      x[static_cast<size_t>(j)] = static_cast<float>(j % 2 == 1 ? j : -j);
    if (num_blocks > 1) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
    for (const int superblock : {0, 2, 4}) {
      const auto n = static_cast<size_t>(32 * num_blocks);
      std::vector<int8_t> q_ref(n, 99), q_avx(n, 99);
      std::vector<float> d_ref(static_cast<size_t>(num_blocks)), d_avx(d_ref.size());
      std::vector<int32_t> s_ref(d_ref.size()), s_avx(d_ref.size());
      quantize_int8_blocks32(x.data(), 32 * num_blocks, superblock, q_ref.data(), d_ref.data(),
                             s_ref.data());
      quantize_int8_blocks32_avx2(x.data(), 32 * num_blocks, superblock, q_avx.data(), d_avx.data(),
                                  s_avx.data());
      EXPECT_EQ(q_ref, q_avx) << num_blocks << " blocks, super-block " << superblock;
      EXPECT_EQ(d_ref, d_avx);
      EXPECT_EQ(s_ref, s_avx);
    }
  }
}

TEST(FastLinearQuantizer, BlocksRoundHalfToEvenGuardZeroAndFollowTheLayout) {
  // Block 0: amax 254 → 127/254 = 0.5: 1 → 0.5 → 0, 3 → 1.5 → 2, −1 → −0.5 → 0. Block 1: zeros.
  std::vector<float> x(64, 0.0f);
  x[0] = 254.0f;
  x[1] = 1.0f;
  x[2] = 3.0f;
  x[3] = -1.0f;
  x[20] = -254.0f;  // column 20: a low-nibble column of block 0 (16..23), stored at 12
  std::vector<int8_t> q(64, 99);
  float d[2];
  int32_t sums[2];
  quantize_int8_blocks32(x.data(), 64, 0, q.data(), d, sums);
  EXPECT_EQ(d[0], 2.0f);
  EXPECT_EQ(d[1], 0.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], 0);
  EXPECT_EQ(q[2], 2);
  EXPECT_EQ(q[3], 0);
  EXPECT_EQ(q[20], -127);
  EXPECT_EQ(q[40], 0);
  EXPECT_EQ(sums[0], 127 + 2 - 127);
  EXPECT_EQ(sums[1], 0);
  quantize_int8_blocks32(x.data(), 64, 2, q.data(), d, sums);
  EXPECT_EQ(q[12], -127);  // block 0's low half: columns 0-7 at 0-7, 16-23 at 8-15
  EXPECT_EQ(q[2], 2);
  // Super-block of 2: block 0 low at 0, block 1 low at 16, block 0 high at 32, block 1 high at 48.
  EXPECT_EQ(int4_act_index(8, 2, 2), 32);
  EXPECT_EQ(int4_act_index(32, 2, 2), 16);
  EXPECT_EQ(int4_act_index(63, 2, 2), 63);
  // A last super-block of one block (3 blocks, super-block 2): low at 64, high at 80.
  EXPECT_EQ(int4_act_index(64 + 8, 3, 2), 80);
  EXPECT_EQ(int4_act_index(64 + 16, 3, 2), 64 + 8);
}

}  // namespace
}  // namespace mm::testing
