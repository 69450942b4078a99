// Differential test of linear_cpu (scalar and AVX2) against a straightforward double-precision
// reference on the dequantized weight (unpack_to_f32), over awkward shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kernels/cpu/linear.h"
#include "tests/unit/cpu/random_weights.h"

namespace mm::testing {
namespace {

std::vector<CpuIsa> isas() {
  std::vector<CpuIsa> out = {CpuIsa::kScalar};
  if (cpu_supports(CpuIsa::kAvx2)) out.push_back(CpuIsa::kAvx2);
  return out;
}

// Magnitude scale of one output's dot product: Σ_k |x_k · W_k|. The kernels dequantize every
// weight exactly, so the only error is the f32 summation of these terms.
double term_scale(const PackedLinear& w, const std::vector<float>& dense, const float* x, int64_t n) {
  double total = 0;
  for (int64_t k = 0; k < w.num_cols; ++k) total += std::fabs(x[k] * dense[static_cast<size_t>(n * w.num_cols + k)]);
  return total;
}

struct Case {
  PackedFormat format;
  int64_t group_cols;
  int64_t block_rows;
  bool asymmetric;
  bool permuted;
  const char* label;
};

class LinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(LinearTest, MatchesDoubleReferenceOverAwkwardShapes) {
  const Case c = GetParam();
  ThreadPool pool(3);  // more threads than cores is fine: results must not depend on it
  std::mt19937 rng(1234);
  for (int64_t m_tokens : {1, 3, 17}) {
    for (int64_t n_rows : {1, 3, 17, 127}) {
      for (int64_t k_cols : {8, 17, 127, 256}) {
        const int64_t group = std::min(c.group_cols, k_cols);
        const PackedLinear w = random_linear(rng, c.format, n_rows, k_cols, group, c.block_rows, c.asymmetric, c.permuted);
        const std::vector<float> dense = unpack_to_f32(w);
        const std::vector<float> x = random_normal(rng, static_cast<size_t>(m_tokens * k_cols));
        for (CpuIsa isa : isas()) {
          std::vector<float> y(static_cast<size_t>(m_tokens * n_rows), NAN);
          linear_cpu(pool, isa, w, x.data(), m_tokens, y.data());
          for (int64_t m = 0; m < m_tokens; ++m) {
            for (int64_t n = 0; n < n_rows; ++n) {
              double ref = 0;
              for (int64_t k = 0; k < k_cols; ++k) {
                ref += static_cast<double>(x[static_cast<size_t>(m * k_cols + k)]) * dense[static_cast<size_t>(n * k_cols + k)];
              }
              // f32 accumulation of K exact products (each rounded once): |error| ≤ γ_{K+1} ·
              // Σ|terms| with γ ≈ (K + 1)·2^-24 (Higham, forward error of summation); the AVX2
              // path's 16 partial sums and final reduction only shorten the chains.
              const double tol = static_cast<double>(k_cols + 2) * std::ldexp(1.0, -24) *
                                 term_scale(w, dense, x.data() + m * k_cols, n) + 1e-30;
              const float got = y[static_cast<size_t>(m * n_rows + n)];
              ASSERT_NEAR(got, ref, tol) << c.label << " isa " << cpu_isa_name(isa) << " M=" << m_tokens
                                         << " N=" << n_rows << " K=" << k_cols << " at (" << m << "," << n << ")";
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, LinearTest,
    ::testing::Values(Case{PackedFormat::kF32, 0, 1, false, false, "f32"},
                      Case{PackedFormat::kBf16, 0, 1, false, false, "bf16"},
                      Case{PackedFormat::kFp8Block, 128, 128, false, false, "fp8_block128"},
                      Case{PackedFormat::kFp8Block, 16, 5, false, false, "fp8_block5x16"},
                      Case{PackedFormat::kInt4Group, 32, 1, false, false, "int4_g32_sym"},
                      Case{PackedFormat::kInt4Group, 128, 1, true, false, "int4_g128_asym"},
                      Case{PackedFormat::kInt4Group, 1 << 20, 1, false, false, "int4_channel"},
                      Case{PackedFormat::kInt4Group, 32, 1, true, true, "int4_g32_asym_actorder"},
                      Case{PackedFormat::kInt8Channel, 0, 1, false, false, "int8_w8a16"}),
    [](const ::testing::TestParamInfo<Case>& param_info) { return std::string(param_info.param.label); });

// W8A8: the int8 path must be exact: y = (Σ xq·q as int32 · sa) · sw, bit for bit.
TEST(LinearW8a8, IsExactIntegerArithmetic) {
  ThreadPool pool(2);
  std::mt19937 rng(99);
  for (int64_t m_tokens : {1, 3, 17}) {
    for (int64_t n_rows : {1, 3, 17, 127}) {
      for (int64_t k_cols : {1, 17, 127, 300}) {
        PackedLinear w = random_linear(rng, PackedFormat::kInt8Channel, n_rows, k_cols);
        w.int8_activations = true;
        std::vector<float> x = random_normal(rng, static_cast<size_t>(m_tokens * k_cols));
        if (m_tokens > 1) std::fill(x.begin() + k_cols, x.begin() + 2 * k_cols, 0.0f);  // amax = 0 row
        for (CpuIsa isa : isas()) {
          std::vector<float> y(static_cast<size_t>(m_tokens * n_rows));
          linear_cpu(pool, isa, w, x.data(), m_tokens, y.data());
          for (int64_t m = 0; m < m_tokens; ++m) {
            const float* xm = x.data() + m * k_cols;
            float amax = 0;
            for (int64_t k = 0; k < k_cols; ++k) amax = std::max(amax, std::fabs(xm[k]));
            const float inv = amax > 0 ? 127.0f / amax : 0.0f;
            const float sa = amax > 0 ? amax / 127.0f : 1.0f;
            for (int64_t n = 0; n < n_rows; ++n) {
              int64_t acc = 0;
              for (int64_t k = 0; k < k_cols; ++k) {
                const long q = std::clamp(std::lrint(xm[k] * inv), -128L, 127L);
                acc += q * static_cast<int8_t>(w.data[static_cast<size_t>(n * k_cols + k)]);
              }
              const float want = (static_cast<float>(acc) * sa) * w.scales[static_cast<size_t>(n)];
              ASSERT_EQ(y[static_cast<size_t>(m * n_rows + n)], want)
                  << "isa " << cpu_isa_name(isa) << " M=" << m_tokens << " N=" << n_rows << " K=" << k_cols;
            }
          }
        }
      }
    }
  }
}

TEST(LinearW8a8, QuantizationRoundsHalfToEvenAndGuardsZero) {
  const float x[4] = {254.0f, 1.0f, 3.0f, -1.0f};  // × 127/254 = 0.5: ties at 0.5, 1.5, −0.5
  int8_t q[4];
  EXPECT_EQ(quantize_int8_per_token(x, 4, q), 2.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], 0);
  EXPECT_EQ(q[2], 2);
  EXPECT_EQ(q[3], 0);
  const float zeros[3] = {0, 0, 0};
  int8_t qz[3] = {5, 5, 5};
  EXPECT_EQ(quantize_int8_per_token(zeros, 3, qz), 1.0f);
  EXPECT_EQ(qz[0], 0);
  EXPECT_EQ(qz[2], 0);
}

// A token's output must not depend on which other tokens share the call (tile position).
TEST(LinearBatchInvariance, TokenResultIndependentOfBatch) {
  ThreadPool pool(2);
  std::mt19937 rng(5);
  for (PackedFormat format : {PackedFormat::kBf16, PackedFormat::kFp8Block, PackedFormat::kInt4Group}) {
    const PackedLinear w = random_linear(rng, format, 33, 256, 32, 16);
    const std::vector<float> x = random_normal(rng, 7 * 256);
    for (CpuIsa isa : isas()) {
      std::vector<float> all(7 * 33);
      linear_cpu(pool, isa, w, x.data(), 7, all.data());
      for (int64_t m = 0; m < 7; ++m) {
        std::vector<float> one(33);
        linear_cpu(pool, isa, w, x.data() + m * 256, 1, one.data());
        for (int64_t n = 0; n < 33; ++n) ASSERT_EQ(one[static_cast<size_t>(n)], all[static_cast<size_t>(m * 33 + n)]);
      }
    }
  }
}

}  // namespace
}  // namespace mm::testing
