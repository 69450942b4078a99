// moe_cpu (tokens grouped by expert) against a naive per-token loop over each token's top-k
// experts in double precision, with some experts unused and some shared by many tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/cpu_ops.h"
#include "tests/unit/cpu/random_weights.h"

namespace mm::testing {
namespace {

TEST(Moe, MatchesNaivePerTokenExpertLoop) {
  ThreadPool pool(2);
  std::mt19937 rng(31);
  const int64_t hidden = 40, inter = 24, num_experts = 6, top_k = 2;
  MoeWeights experts;
  experts.intermediate_size = inter;
  for (int64_t e = 0; e < num_experts; ++e) {
    experts.w1.push_back(random_linear(rng, PackedFormat::kInt4Group, inter, hidden, 8));
    experts.w3.push_back(random_linear(rng, PackedFormat::kInt4Group, inter, hidden, 8));
    experts.w2.push_back(random_linear(rng, PackedFormat::kInt4Group, hidden, inter, 8));
  }
  for (int64_t tokens : {1, 3, 17}) {
    const std::vector<float> x = random_normal(rng, static_cast<size_t>(tokens * hidden));
    std::vector<int32_t> ids(static_cast<size_t>(tokens * top_k));
    std::vector<float> weights(ids.size());
    std::uniform_real_distribution<float> unit(0.1f, 0.9f);
    for (int64_t t = 0; t < tokens; ++t) {
      // Experts 0..4 only (5 stays unused); two distinct ones per token.
      ids[static_cast<size_t>(t * 2)] = static_cast<int32_t>(t % 5);
      ids[static_cast<size_t>(t * 2 + 1)] = static_cast<int32_t>((t * 3 + 1) % 5 == t % 5 ? (t + 1) % 5 : (t * 3 + 1) % 5);
      const float w = unit(rng);
      weights[static_cast<size_t>(t * 2)] = w;
      weights[static_cast<size_t>(t * 2 + 1)] = 1 - w;
    }
    std::vector<float> out(x.size(), NAN);
    moe_cpu(pool, detected_cpu_isa(), experts, x.data(), tokens, hidden, ids.data(), weights.data(), top_k, out.data());
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<double> want(static_cast<size_t>(hidden), 0.0);
      double scale = 0;
      for (int64_t j = 0; j < top_k; ++j) {
        const size_t e = static_cast<size_t>(ids[static_cast<size_t>(t * top_k + j)]);
        const std::vector<float> w1 = unpack_to_f32(experts.w1[e]), w3 = unpack_to_f32(experts.w3[e]),
                                 w2 = unpack_to_f32(experts.w2[e]);
        std::vector<double> act(static_cast<size_t>(inter));
        for (int64_t i = 0; i < inter; ++i) {
          double g = 0, u = 0;
          for (int64_t h = 0; h < hidden; ++h) {
            g += static_cast<double>(w1[static_cast<size_t>(i * hidden + h)]) * x[static_cast<size_t>(t * hidden + h)];
            u += static_cast<double>(w3[static_cast<size_t>(i * hidden + h)]) * x[static_cast<size_t>(t * hidden + h)];
          }
          act[static_cast<size_t>(i)] = g / (1 + std::exp(-g)) * u;
        }
        for (int64_t h = 0; h < hidden; ++h) {
          double y = 0;
          for (int64_t i = 0; i < inter; ++i) y += static_cast<double>(w2[static_cast<size_t>(h * inter + i)]) * act[static_cast<size_t>(i)];
          want[static_cast<size_t>(h)] += weights[static_cast<size_t>(t * top_k + j)] * y;
          scale = std::max(scale, std::fabs(y));
        }
      }
      for (int64_t h = 0; h < hidden; ++h) {
        // Two chained f32 GEMMs of ≤ 40 terms (≈ 40·2^-24 relative each, amplified by the
        // magnitudes of the terms): 1e-4 of the largest expert output.
        ASSERT_NEAR(out[static_cast<size_t>(t * hidden + h)], want[static_cast<size_t>(h)], 1e-4 * scale)
            << "tokens " << tokens << " token " << t << " dim " << h;
      }
    }
  }
}

}  // namespace
}  // namespace mm::testing
