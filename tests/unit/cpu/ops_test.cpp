// Differential tests of the small CPU ops (RMSNorm, NeoX RoPE, router top-k, SwiGLU) against
// straightforward double-precision references, over awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/cpu_ops.h"
#include "tests/unit/cpu/random_weights.h"

namespace mm::testing {
namespace {

TEST(RmsNorm, MatchesDoubleReference) {
  ThreadPool pool(2);
  std::mt19937 rng(7);
  for (int64_t width : {1, 3, 17, 127, 1024}) {
    const int64_t rows = 5;
    const std::vector<float> x = random_normal(rng, static_cast<size_t>(rows * width), 3.0f);
    const std::vector<float> gain = random_normal(rng, static_cast<size_t>(width));
    std::vector<float> out(x.size());
    rms_norm_cpu(pool, x.data(), gain.data(), rows, width, 1e-6f, out.data());
    std::vector<float> in_place = x;
    rms_norm_cpu(pool, in_place.data(), gain.data(), rows, width, 1e-6f, in_place.data());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < width; ++i) ss += static_cast<double>(x[static_cast<size_t>(r * width + i)]) * x[static_cast<size_t>(r * width + i)];
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(width) + 1e-6);
      for (int64_t i = 0; i < width; ++i) {
        const size_t at = static_cast<size_t>(r * width + i);
        const double want = gain[static_cast<size_t>(i)] * (x[at] * inv);
        // A handful of f32 roundings (mean, sqrt, reciprocal, two products): ≤ 8 ulp.
        ASSERT_NEAR(out[at], want, 8 * std::ldexp(std::fabs(want), -23) + 1e-30) << "width " << width;
        ASSERT_EQ(out[at], in_place[at]);
      }
    }
  }
}

TEST(RopeNeox, RotatesPairsIAndIPlusHalfAndKeepsTheRest) {
  std::mt19937 rng(11);
  const int64_t heads = 3, head_dim = 64, rotary = 32, tokens = 4;
  const std::vector<int32_t> positions = {0, 1, 17, 127};
  const double theta = 10000.0;
  const std::vector<float> x = random_normal(rng, static_cast<size_t>(tokens * heads * head_dim));
  std::vector<float> y = x;
  rope_neox_cpu(y.data(), positions.data(), tokens, heads, head_dim, rotary, theta);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* u = x.data() + (t * heads + h) * head_dim;
      const float* v = y.data() + (t * heads + h) * head_dim;
      for (int64_t i = 0; i < rotary / 2; ++i) {
        const double angle = positions[static_cast<size_t>(t)] * std::pow(theta, -2.0 * static_cast<double>(i) / rotary);
        const double a = u[i], b = u[i + rotary / 2];
        // The angle is formed in f32 as HF does: pos·inv_freq carries ~pos·2^-24 rad of error.
        const double tol = 1e-6 + 4e-7 * positions[static_cast<size_t>(t)] * (std::fabs(a) + std::fabs(b));
        ASSERT_NEAR(v[i], a * std::cos(angle) - b * std::sin(angle), tol) << "t " << t << " i " << i;
        ASSERT_NEAR(v[i + rotary / 2], b * std::cos(angle) + a * std::sin(angle), tol) << "t " << t << " i " << i;
      }
      for (int64_t i = rotary; i < head_dim; ++i) ASSERT_EQ(v[i], u[i]) << "dim " << i << " must pass through";
    }
  }
}

TEST(RouterTopk, BiasSelectsButDoesNotWeight) {
  // Expert 2 has the lowest score but a large bias: it is selected, and its weight comes from
  // its unbiased sigmoid score.
  const float logits[4] = {1.0f, 0.5f, -2.0f, 0.0f};
  const float bias[4] = {0.0f, 0.0f, 5.0f, 0.0f};
  int32_t ids[2];
  float weights[2];
  router_topk_cpu(logits, bias, 1, 4, 2, ids, weights);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 0);
  const double s2 = 1 / (1 + std::exp(2.0)), s0 = 1 / (1 + std::exp(-1.0));
  EXPECT_NEAR(weights[0], s2 / (s2 + s0), 1e-6);
  EXPECT_NEAR(weights[1], s0 / (s2 + s0), 1e-6);
}

TEST(RouterTopk, TiesGoToTheLowerExpertId) {
  const float logits[5] = {0.3f, 0.7f, 0.3f, 0.7f, 0.3f};
  int32_t ids[3];
  float weights[3];
  router_topk_cpu(logits, nullptr, 1, 5, 3, ids, weights);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 3);
  EXPECT_EQ(ids[2], 0);
  EXPECT_NEAR(weights[0] + weights[1] + weights[2], 1.0f, 1e-6);
}

TEST(Swiglu, IsSiluOfGateTimesUp) {
  std::mt19937 rng(3);
  const std::vector<float> gate = random_normal(rng, 17, 4.0f), up = random_normal(rng, 17);
  std::vector<float> out(17);
  swiglu_cpu(gate.data(), up.data(), 17, out.data());
  for (size_t i = 0; i < 17; ++i) {
    const double want = gate[i] / (1 + std::exp(-static_cast<double>(gate[i]))) * up[i];
    ASSERT_NEAR(out[i], want, 1e-6 * (std::fabs(want) + 1e-3));
  }
}

}  // namespace
}  // namespace mm::testing
