#include "daemon/engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace mm {
namespace {

SampleResult draw(std::vector<float> logits, const SamplingParams& params, uint64_t seed = 1,
                  std::vector<int32_t> output = {}, std::vector<int32_t> prompt = {},
                  std::vector<int32_t> eos = {}) {
  SamplerContext context{prompt, output, eos, seed};
  return sample_token(logits, params, context);
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

// Token frequencies over `n` draws with seeds 0..n-1.
std::map<int32_t, double> frequencies(const std::vector<float>& logits, const SamplingParams& p,
                                      int n = 60000) {
  std::map<int32_t, double> counts;
  for (int i = 0; i < n; ++i)
    counts[draw(logits, p, static_cast<uint64_t>(i)).token_id] += 1.0 / n;
  return counts;
}

TEST(Sampler, GreedyTakesTheArgmaxAndTheLowerIdOnTies) {
  EXPECT_EQ(draw({0.1f, 2.0f, -1.0f}, greedy()).token_id, 1);
  EXPECT_EQ(draw({3.0f, 1.0f, 3.0f}, greedy()).token_id, 0);
}

TEST(Sampler, SamplesTheSoftmaxDistribution) {
  // Probabilities 1/6, 2/6, 3/6. With 60000 draws the standard error of each frequency is
  // below 0.0021, so 0.01 is about five standard errors.
  const auto f = frequencies({0.0f, std::log(2.0f), std::log(3.0f)}, SamplingParams{});
  EXPECT_NEAR(f.at(0), 1.0 / 6, 0.01);
  EXPECT_NEAR(f.at(1), 2.0 / 6, 0.01);
  EXPECT_NEAR(f.at(2), 3.0 / 6, 0.01);
}

TEST(Sampler, TemperatureSharpens) {
  SamplingParams p;
  p.temperature = 0.5f;  // probabilities become 1:4:9
  const auto f = frequencies({0.0f, std::log(2.0f), std::log(3.0f)}, p);
  EXPECT_NEAR(f.at(2), 9.0 / 14, 0.01);
  EXPECT_NEAR(f.at(0), 1.0 / 14, 0.01);
}

TEST(Sampler, TopKTopPMinPCutTheTail) {
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams top_k;
  top_k.top_k = 2;
  auto f = frequencies(logits, top_k, 20000);
  EXPECT_EQ(f.count(2) + f.count(3), 0u);
  EXPECT_NEAR(f.at(0), 0.5 / 0.8, 0.015);
  SamplingParams top_p;
  top_p.top_p = 0.6f;  // 0.5 < 0.6 <= 0.8: tokens 0 and 1
  f = frequencies(logits, top_p, 20000);
  EXPECT_EQ(f.count(2) + f.count(3), 0u);
  EXPECT_GT(f.at(1), 0.3);
  SamplingParams min_p;
  min_p.min_p = 0.25f;  // keeps p >= 0.125: tokens 0, 1, 2
  f = frequencies(logits, min_p, 20000);
  EXPECT_EQ(f.count(3), 0u);
  EXPECT_GT(f.at(2), 0.1);
  SamplingParams top_k1;
  top_k1.top_k = 1;
  EXPECT_EQ(frequencies(logits, top_k1, 1000).size(), 1u);
}

TEST(Sampler, SeedFixesTheTokenWhateverElseHappens) {
  const std::vector<float> logits(50, 0.0f);  // uniform: every token equally likely
  const int32_t first = draw(logits, SamplingParams{}, 1234).token_id;
  for (int i = 0; i < 10; ++i)
    draw(logits, SamplingParams{}, static_cast<uint64_t>(i));
  EXPECT_EQ(draw(logits, SamplingParams{}, 1234).token_id, first);
  // Different positions of the same request draw independently.
  std::map<int32_t, int> seen;
  std::vector<int32_t> output;
  for (int i = 0; i < 200; ++i) {
    ++seen[draw(logits, SamplingParams{}, 1234, output).token_id];
    output.push_back(0);
  }
  EXPECT_GT(seen.size(), 40u);
}

TEST(Sampler, PenaltiesFollowVllm) {
  // Repetition penalty 2 divides positive and multiplies negative logits of seen tokens.
  SamplingParams rep = greedy();
  rep.repetition_penalty = 2.0f;
  std::vector<float> logits{3.0f, 2.0f, -1.0f};
  const std::vector<int32_t> prompt{0}, generated{2};
  SamplerContext context{prompt, generated, {}, 0};
  std::vector<float> scratch = logits;
  EXPECT_EQ(sample_token(scratch, rep, context).token_id, 1);  // 1.5 < 2.0
  EXPECT_FLOAT_EQ(scratch[0], 1.5f);
  EXPECT_FLOAT_EQ(scratch[2], -2.0f);
  // Frequency counts occurrences in the output; presence counts once.
  SamplingParams freq = greedy();
  freq.frequency_penalty = 0.5f;
  freq.presence_penalty = 0.25f;
  scratch = {3.0f, 2.0f, 0.0f};
  std::vector<int32_t> output{0, 0, 1};
  SamplerContext context2{{}, output, {}, 0};
  sample_token(scratch, freq, context2);
  EXPECT_FLOAT_EQ(scratch[0], 3.0f - 1.0f - 0.25f);
  EXPECT_FLOAT_EQ(scratch[1], 2.0f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(scratch[2], 0.0f);
}

TEST(Sampler, LogitBiasAndMinTokens) {
  SamplingParams p = greedy();
  p.logit_bias[2] = 10.0f;
  EXPECT_EQ(draw({1.0f, 2.0f, 0.0f}, p).token_id, 2);
  SamplingParams min_tokens = greedy();
  min_tokens.min_tokens = 2;
  min_tokens.stop_token_ids = {1};
  // EOS (0) and the stop token (1) are masked until two tokens exist.
  EXPECT_EQ(draw({5.0f, 4.0f, 1.0f}, min_tokens, 1, {7}, {}, {0}).token_id, 2);
  EXPECT_EQ(draw({5.0f, 4.0f, 1.0f}, min_tokens, 1, {7, 7}, {}, {0}).token_id, 0);
  SamplingParams ignore = greedy();
  ignore.ignore_eos = true;
  EXPECT_EQ(draw({5.0f, 4.0f}, ignore, 1, {}, {}, {0}).token_id, 1);
}

TEST(Sampler, LogprobsComeFromRawLogits) {
  SamplingParams p = greedy();
  p.logprobs = 2;
  p.logit_bias[0] = 100.0f;  // changes the choice, not the reported logprobs
  const SampleResult r = draw({0.0f, std::log(3.0f), std::log(2.0f)}, p);
  EXPECT_EQ(r.token_id, 0);
  ASSERT_TRUE(r.logprob);
  EXPECT_NEAR(r.logprob->logprob, std::log(1.0 / 6), 1e-6);
  ASSERT_EQ(r.top_logprobs.size(), 2u);
  EXPECT_EQ(r.top_logprobs[0].token_id, 1);
  EXPECT_NEAR(r.top_logprobs[0].logprob, std::log(0.5), 1e-6);
  EXPECT_EQ(r.top_logprobs[1].token_id, 2);
}

TEST(Sampler, AllowedTokenIdsAreTheOnlyOnesSampled) {
  SamplingParams p = greedy();
  p.allowed_token_ids = {1, 3};
  // The argmax (0) is not allowed; of the allowed two, 3 has the larger logit.
  EXPECT_EQ(draw({9.0f, 1.0f, 8.0f, 2.0f}, p).token_id, 3);
  // Sampled at temperature 1: every draw is one of the allowed ids, in their softmax ratio
  // (e^1 : e^2, so id 3 about 73 %).
  p.temperature = 1.0f;
  const auto counts = frequencies({9.0f, 1.0f, 8.0f, 2.0f}, p, 20000);
  for (const auto& [token, share] : counts)
    EXPECT_TRUE(token == 1 || token == 3) << token;
  EXPECT_NEAR(counts.at(3), std::exp(2.0) / (std::exp(1.0) + std::exp(2.0)), 0.02);
  // A bias cannot bring a disallowed id back.
  p.temperature = 0.0f;
  p.logit_bias[0] = 100.0f;
  EXPECT_EQ(draw({9.0f, 1.0f, 8.0f, 2.0f}, p).token_id, 3);
}

TEST(Sampler, BadWordsMaskTheirLastTokenAfterTheirPrefix) {
  SamplingParams p = greedy();
  p.bad_words_token_ids = {{2}, {5, 6, 1}};
  const std::vector<float> logits = {0.0f, 9.0f, 8.0f, 7.0f, 0.0f, 0.0f, 0.0f};
  // A one-token word is always masked; 1 is free while the output does not end with 5 6.
  EXPECT_EQ(draw(logits, p, 1, {}).token_id, 1);
  EXPECT_EQ(draw(logits, p, 1, {5}).token_id, 1);
  EXPECT_EQ(draw(logits, p, 1, {6, 5}).token_id, 1);
  // After 5 6 the word would be completed: 1 is masked, and so is 2 (always): 3 wins.
  EXPECT_EQ(draw(logits, p, 1, {4, 5, 6}).token_id, 3);
  EXPECT_EQ(draw(logits, p, 1, {5, 6}).token_id, 3);
  // Sampled: the masked ids are never drawn.
  p.temperature = 1.0f;
  const auto counts = frequencies(logits, p, 5000);
  EXPECT_EQ(counts.count(2), 0u);
  SamplingParams after = p;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    const int32_t token = draw(logits, after, seed, {5, 6}).token_id;
    EXPECT_NE(token, 1);
    EXPECT_NE(token, 2);
  }
}

TEST(Sampler, BitmaskIsAppliedFirstAndIgnoresBitsPastTheVocab) {
  // 40 tokens: words 0 and 1. Allowed: 3, 33 and bits for the ids 40..63 (past the vocab).
  std::vector<uint32_t> mask{1u << 3, (1u << 1) | 0xFFFFFF00u};
  std::vector<float> logits(40, 0.0f);
  logits[3] = 1.0f;
  logits[33] = 2.0f;
  logits[7] = 9.0f;  // the argmax, but not allowed
  SamplerContext context{{}, {}, {}, 1};
  context.allowed_token_bitmask = mask;
  std::vector<float> scratch = logits;
  EXPECT_EQ(sample_token(scratch, greedy(), context).token_id, 33);
  // Applied before allowed_token_ids: an id allowed there but not by the mask stays masked,
  // and a bias cannot bring it back.
  SamplingParams p = greedy();
  p.allowed_token_ids = {3, 7};
  p.logit_bias[7] = 100.0f;
  scratch = logits;
  EXPECT_EQ(sample_token(scratch, p, context).token_id, 3);
  // Sampled: only the two allowed ids are drawn, in their softmax ratio (e^1 : e^2).
  std::map<int32_t, int> counts;
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    context.seed = seed;
    scratch = logits;
    ++counts[sample_token(scratch, SamplingParams{}, context).token_id];
  }
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts.at(33) / 4000.0, std::exp(2.0) / (std::exp(1.0) + std::exp(2.0)), 0.03);
  // A mask shorter than the vocabulary allows none of the ids it does not cover.
  const std::vector<uint32_t> short_mask{0u};
  context.allowed_token_bitmask = short_mask;
  logits[39] = 50.0f;
  scratch = logits;
  const uint32_t only_39 = 1u << 7;
  const std::vector<uint32_t> covering{0u, only_39};
  EXPECT_NE(sample_token(scratch, greedy(), context).token_id, 39);
  context.allowed_token_bitmask = covering;
  scratch = logits;
  EXPECT_EQ(sample_token(scratch, greedy(), context).token_id, 39);
}

}  // namespace
}  // namespace mm
