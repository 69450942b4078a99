// The sampler against the algorithm it replaced: a full sort of the vocabulary with a double exp
// per id, kept here verbatim as the reference. Over random logits (with ties, masked ids, an
// all-masked row), seeds and parameters (temperature, top_k including 1, top_p, min_p,
// penalties, biases, logprobs), up to the real MiniMax-M2 vocabulary of 200,064, the sampler
// must choose the reference's token every time. Also the vectorized passes against the scalar
// ones over awkward lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

#include "daemon/engine/sampler.h"
#include "daemon/engine/sampler_simd.h"

namespace mm {
namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

// ---- The reference: sampler.cpp as it was before the partial-selection rewrite. ----

void reference_logprobs(std::span<const float> raw, int32_t sampled, int top_n, SampleResult& out) {
  const float max_logit = *std::max_element(raw.begin(), raw.end());
  double sum = 0.0;
  for (float v : raw)
    sum += std::exp(static_cast<double>(v - max_logit));
  const float log_norm = max_logit + static_cast<float>(std::log(sum));
  out.logprob = TokenLogprob{sampled, raw[sampled] - log_norm};
  if (top_n <= 0) return;
  std::vector<int32_t> ids(raw.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto n = std::min<size_t>(static_cast<size_t>(top_n), ids.size());
  std::partial_sort(
      ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
      [&](int32_t a, int32_t b) { return raw[a] > raw[b] || (raw[a] == raw[b] && a < b); });
  for (size_t i = 0; i < n; ++i)
    out.top_logprobs.push_back({ids[i], raw[ids[i]] - log_norm});
}

SampleResult reference_sample(std::span<float> logits, const SamplingParams& params,
                              const SamplerContext& context) {
  SampleResult result;
  const auto vocab = static_cast<int32_t>(logits.size());
  std::vector<float> raw;
  if (params.logprobs >= 0) raw.assign(logits.begin(), logits.end());

  if (!context.allowed_token_bitmask.empty()) {
    const std::span<const uint32_t> mask = context.allowed_token_bitmask;
    for (int32_t token = 0; token < vocab; ++token) {
      const auto word = static_cast<size_t>(token) / 32;
      if (word >= mask.size() || ((mask[word] >> (token % 32)) & 1u) == 0) logits[token] = kMasked;
    }
  }

  if (!params.allowed_token_ids.empty()) {
    // Everything else is masked; the allowed logits are kept as they are.
    std::vector<float> kept(params.allowed_token_ids.size(), kMasked);
    for (size_t i = 0; i < kept.size(); ++i) {
      const int32_t token = params.allowed_token_ids[i];
      if (token >= 0 && token < vocab) kept[i] = logits[token];
    }
    std::fill(logits.begin(), logits.end(), kMasked);
    for (size_t i = 0; i < kept.size(); ++i) {
      const int32_t token = params.allowed_token_ids[i];
      if (token >= 0 && token < vocab) logits[token] = kept[i];
    }
  }
  const std::span<const int32_t> output = context.output_token_ids;
  for (const std::vector<int32_t>& word : params.bad_words_token_ids) {
    if (word.empty() || word.size() - 1 > output.size()) continue;
    // The word would be completed by its last id when the output ends with the ones before it.
    const size_t prefix = word.size() - 1;
    if (!std::equal(word.begin(), word.begin() + static_cast<std::ptrdiff_t>(prefix),
                    output.end() - static_cast<std::ptrdiff_t>(prefix)))
      continue;
    const int32_t last = word.back();
    if (last >= 0 && last < vocab) logits[last] = kMasked;
  }

  for (const auto& [token, bias] : params.logit_bias) {
    if (token >= 0 && token < vocab) logits[token] += bias;
  }
  const bool too_short = static_cast<int>(context.output_token_ids.size()) < params.min_tokens;
  if (too_short) {
    for (int32_t token : params.stop_token_ids) {
      if (token >= 0 && token < vocab) logits[token] = kMasked;
    }
  }
  if (too_short || params.ignore_eos) {
    for (int32_t token : context.eos_token_ids) {
      if (token >= 0 && token < vocab) logits[token] = kMasked;
    }
  }

  if (params.repetition_penalty != 1.0f) {
    auto penalize = [&](int32_t token) {
      if (token < 0 || token >= vocab) return;
      float& v = logits[token];
      v = v > 0 ? v / params.repetition_penalty : v * params.repetition_penalty;
    };
    std::vector<bool> seen(static_cast<size_t>(vocab), false);
    for (auto ids : {context.prompt_token_ids, context.output_token_ids}) {
      for (int32_t token : ids) {
        if (token >= 0 && token < vocab && !seen[token]) {
          seen[token] = true;
          penalize(token);
        }
      }
    }
  }
  if (params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t token : context.output_token_ids)
      ++counts[token];
    for (const auto& [token, count] : counts) {
      if (token < 0 || token >= vocab) continue;
      logits[token] -=
          params.frequency_penalty * static_cast<float>(count) + params.presence_penalty;
    }
  }

  if (params.temperature <= 1e-5f) {
    result.token_id =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  } else {
    for (float& v : logits)
      v /= params.temperature;
    // Softmax over the survivors, then the filters, each on probabilities sorted once.
    std::vector<int32_t> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    const float max_logit = logits[order.front()];
    std::vector<double> probs(order.size());
    double sum = 0.0;
    for (size_t i = 0; i < order.size(); ++i) {
      probs[i] = std::exp(static_cast<double>(logits[order[i]] - max_logit));
      sum += probs[i];
    }
    for (double& p : probs)
      p /= sum;
    size_t keep = order.size();
    if (params.min_p > 0.0f) {
      const double threshold = params.min_p * probs.front();
      while (keep > 1 && probs[keep - 1] < threshold)
        --keep;
    }
    if (params.top_k > 0) keep = std::min(keep, static_cast<size_t>(params.top_k));
    if (params.top_p < 1.0f) {
      // The smallest prefix whose mass reaches top_p (of the renormalised survivors).
      double kept_mass = 0.0;
      for (size_t i = 0; i < keep; ++i)
        kept_mass += probs[i];
      double cumulative = 0.0;
      for (size_t i = 0; i < keep; ++i) {
        cumulative += probs[i] / kept_mass;
        if (cumulative >= params.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    while (keep > 1 && probs[keep - 1] == 0.0)
      --keep;  // masked tokens are never drawn
    double mass = 0.0;
    for (size_t i = 0; i < keep; ++i)
      mass += probs[i];
    const double target = sampler_uniform(context.seed, context.output_token_ids.size()) * mass;
    double cumulative = 0.0;
    result.token_id = order[keep - 1];
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i];
      if (target < cumulative) {
        result.token_id = order[i];
        break;
      }
    }
  }
  if (params.logprobs >= 0) reference_logprobs(raw, result.token_id, params.logprobs, result);
  return result;
}

// ---- Random cases. ----

struct Case {
  std::vector<float> logits;
  SamplingParams params;
  std::vector<int32_t> prompt, output;
  std::vector<uint32_t> bitmask;
  std::string label;
};

Case make_case(std::mt19937_64& rng, int vocab) {
  Case c;
  auto pick = [&](std::initializer_list<double> choices) {
    std::uniform_int_distribution<size_t> d(0, choices.size() - 1);
    return *(choices.begin() + static_cast<std::ptrdiff_t>(d(rng)));
  };
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  const int style = static_cast<int>(pick({0, 1, 2, 3, 4, 5, 6}));
  const auto sigma = static_cast<float>(pick({0.5, 2.0, 5.0}));
  c.logits.resize(static_cast<size_t>(vocab));
  for (float& v : c.logits)
    v = normal(rng) * sigma;
  switch (style) {
    case 1:  // peaked: a few ids far above the body
      for (int i = 0; i < 8; ++i)
        c.logits[static_cast<size_t>(id(rng))] += 8.0f + 4.0f * normal(rng);
      break;
    case 2:  // coarse values: many ties
      for (float& v : c.logits)
        v = std::round(v);
      break;
    case 3:  // all equal: the order is the ids'
      std::fill(c.logits.begin(), c.logits.end(), 1.5f);
      break;
    case 4:  // a third masked by the model (padding ids)
      for (float& v : c.logits) {
        if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) v = kMasked;
      }
      break;
    case 5:  // a wide range: probabilities that underflow
      for (float& v : c.logits)
        v *= 40.0f;
      break;
    default:
      break;
  }
  SamplingParams& p = c.params;
  p.temperature = static_cast<float>(pick({0.0, 0.3, 0.7, 1.0, 1.0, 1.5}));
  p.top_k = static_cast<int>(
      pick({0, 0, -1, 1, 2, 5, 40, static_cast<double>(vocab), static_cast<double>(vocab) + 5}));
  p.top_p = static_cast<float>(pick({1.0, 1.0, 0.95, 0.5, 0.9, 0.999}));
  p.min_p = static_cast<float>(pick({0.0, 0.0, 0.0, 0.01, 0.1, 0.5, 1.5}));
  p.repetition_penalty = static_cast<float>(pick({1.0, 1.0, 1.3, 0.8}));
  p.frequency_penalty = static_cast<float>(pick({0.0, 0.0, 0.5}));
  p.presence_penalty = static_cast<float>(pick({0.0, 0.0, 0.7}));
  p.logprobs = static_cast<int>(pick({-1, -1, 0, 3, 20}));
  const int num_prompt = std::uniform_int_distribution<int>(0, 40)(rng);
  const int num_output = std::uniform_int_distribution<int>(0, 20)(rng);
  for (int i = 0; i < num_prompt; ++i)
    c.prompt.push_back(id(rng));
  for (int i = 0; i < num_output; ++i)
    c.output.push_back(i > 0 && id(rng) % 3 == 0 ? c.output.back() : id(rng));
  if (pick({0, 0, 1}) == 1) {
    for (int i = 0; i < 3; ++i)
      p.logit_bias[id(rng)] = 3.0f * normal(rng);
  }
  if (pick({0, 0, 0, 1}) == 1) {
    for (int i = 0; i < std::max(1, vocab / 10); ++i)
      p.allowed_token_ids.push_back(id(rng));
  }
  if (pick({0, 0, 0, 1}) == 1) {
    // A random mask over ~60 % of the ids, sometimes a word short of the vocabulary.
    c.bitmask.resize(static_cast<size_t>(vocab + 31) / 32);
    for (uint32_t& word : c.bitmask)
      word = static_cast<uint32_t>(rng()) | static_cast<uint32_t>(rng());
    if (pick({0, 1}) == 1 && c.bitmask.size() > 1) c.bitmask.pop_back();
  }
  if (pick({0, 0, 1}) == 1) {
    p.bad_words_token_ids = {{id(rng)}};
    if (!c.output.empty()) p.bad_words_token_ids.push_back({c.output.back(), id(rng)});
  }
  c.label = "vocab " + std::to_string(vocab) + " style " + std::to_string(style) + " T " +
            std::to_string(p.temperature) + " top_k " + std::to_string(p.top_k) + " top_p " +
            std::to_string(p.top_p) + " min_p " + std::to_string(p.min_p);
  return c;
}

// Equal (an id the model masked has logprob -inf in both; a row it masked whole, NaN), or
// within `tolerance`.
::testing::AssertionResult close(float got, float want, float tolerance) {
  if (got == want || std::fabs(got - want) <= tolerance || (std::isnan(got) && std::isnan(want)))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs " << want;
}

// Runs `c` through both with `seed`; checks the same token and logprobs.
void expect_same(const Case& c, uint64_t seed) {
  SamplerContext context{c.prompt, c.output, {}, seed};
  context.allowed_token_bitmask = c.bitmask;
  std::vector<float> a = c.logits, b = c.logits;
  const SampleResult want = reference_sample(a, c.params, context);
  const SampleResult got = sample_token(b, c.params, context);
  ASSERT_EQ(got.token_id, want.token_id) << c.label << " seed " << seed;
  ASSERT_EQ(got.logprob.has_value(), want.logprob.has_value()) << c.label;
  if (!want.logprob) return;
  // Both from the raw logits; the sums differ only by the f32 exp of the new pass (a few ulp
  // of each term), well below 1e-4 in a logprob.
  EXPECT_TRUE(close(got.logprob->logprob, want.logprob->logprob, 1e-4f)) << c.label;
  ASSERT_EQ(got.top_logprobs.size(), want.top_logprobs.size()) << c.label;
  for (size_t i = 0; i < want.top_logprobs.size(); ++i) {
    EXPECT_EQ(got.top_logprobs[i].token_id, want.top_logprobs[i].token_id) << c.label << " " << i;
    EXPECT_TRUE(close(got.top_logprobs[i].logprob, want.top_logprobs[i].logprob, 1e-4f)) << c.label;
  }
}

TEST(SamplerEquivalence, SameTokenAsTheFullSortOnSmallVocabularies) {
  std::mt19937_64 rng(20261201);
  for (int n = 0; n < 3000; ++n) {
    const int vocab =
        static_cast<int>(std::initializer_list<int>{1, 2, 3, 17, 127, 1000, 5003}.begin()[n % 7]);
    const Case c = make_case(rng, vocab);
    for (int s = 0; s < 4; ++s)
      expect_same(c, rng());
  }
}

TEST(SamplerEquivalence, SameTokenAsTheFullSortAtTheMiniMaxVocabulary) {
  std::mt19937_64 rng(42);
  for (int n = 0; n < 16; ++n) {
    const Case c = make_case(rng, 200064);
    for (int s = 0; s < 2; ++s)
      expect_same(c, rng());
  }
  // The seed cards' parameters on a peaked row, many draws.
  Case c = make_case(rng, 200064);
  c.params = SamplingParams{};
  c.params.top_p = 0.95f;
  c.params.top_k = 40;
  for (int s = 0; s < 30; ++s)
    expect_same(c, static_cast<uint64_t>(s));
  c.params.top_k = 0;
  for (int s = 0; s < 30; ++s)
    expect_same(c, static_cast<uint64_t>(s));
}

TEST(SamplerEquivalence, TiesFollowTheIdOrder) {
  // All equal: top_k 1 is id 0 and top_k 3 draws only 0..2; with a mask, the lowest allowed.
  const std::vector<float> logits(200064, 0.25f);
  SamplingParams p;
  p.top_k = 1;
  Case c{logits, p, {}, {}, {}, "ties top_k 1"};
  for (int s = 0; s < 5; ++s)
    expect_same(c, static_cast<uint64_t>(s));
  c.params.top_k = 3;
  for (int s = 0; s < 20; ++s)
    expect_same(c, static_cast<uint64_t>(s));
  c.bitmask.assign(200064 / 32, 0u);
  c.bitmask[100] = 1u << 5;
  c.bitmask[200] = 1u << 9;
  for (int s = 0; s < 5; ++s)
    expect_same(c, static_cast<uint64_t>(s));
  // Everything masked: the full sort's arithmetic (NaN probabilities) picks its last kept id.
  c.bitmask.assign(200064 / 32, 0u);
  for (int s = 0; s < 3; ++s)
    expect_same(c, static_cast<uint64_t>(s));
  c.params.top_k = 0;
  expect_same(c, 7);
}

// ---- The vectorized passes against the scalar ones. ----

// Each SIMD level this CPU has against the scalar passes; the levels it lacks are named.
void expect_passes_match_scalar(const sampler_simd::Kernels* avx2);

TEST(SamplerSimd, VectorPassesMatchTheScalarOnes) {
  std::string skipped;
  if (const sampler_simd::Kernels* avx2 = sampler_simd::avx2_kernels()) {
    SCOPED_TRACE("avx2");
    expect_passes_match_scalar(avx2);
  } else {
    skipped += " avx2+fma";
  }
  if (const sampler_simd::Kernels* avx512 = sampler_simd::avx512_kernels()) {
    SCOPED_TRACE("avx512f");
    expect_passes_match_scalar(avx512);
  } else {
    skipped += " avx512f";
  }
  if (!skipped.empty()) GTEST_SKIP() << "this CPU lacks" << skipped << ": those passes did not run";
}

void expect_passes_match_scalar(const sampler_simd::Kernels* avx2) {
  const sampler_simd::Kernels& ref = sampler_simd::scalar_kernels();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (size_t n : {size_t{1}, size_t{3}, size_t{7}, size_t{8}, size_t{17}, size_t{127},
                   size_t{4099}, size_t{200064}}) {
    std::vector<float> x(n);
    for (float& v : x)
      v = std::round(normal(rng) * 4.0f) / 4.0f;  // coarse: ties and exact threshold hits
    if (n > 2) x[n / 2] = kMasked;
    const float top = ref.max(x.data(), n);
    EXPECT_EQ(avx2->max(x.data(), n), top) << n;
    EXPECT_EQ(avx2->find_first(x.data(), n, top), ref.find_first(x.data(), n, top)) << n;
    EXPECT_EQ(avx2->find_first(x.data(), n, 1e9f), n);
    std::vector<float> a = x, b = x;
    EXPECT_EQ(avx2->divide_max(a.data(), n, 0.7f), ref.divide_max(b.data(), n, 0.7f)) << n;
    EXPECT_EQ(a, b) << n;
    const float cuts[] = {top, top - 0.5f, top - 4.0f, top - 100.0f, kMasked};
    int64_t want[5], got[5];
    ref.count_ge(x.data(), n, cuts, 5, want);
    avx2->count_ge(x.data(), n, cuts, 5, got);
    for (int j = 0; j < 5; ++j)
      EXPECT_EQ(got[j], want[j]) << n << " cut " << j;
    double want_mass[5], got_mass[5];
    const double want_total = ref.exp_sums(x.data(), n, top, cuts, 5, want_mass);
    const double got_total = avx2->exp_sums(x.data(), n, top, cuts, 5, got_mass);
    // The polynomial exp is within a few f32 ulp of libm's; sums stay within 1e-6 relative.
    EXPECT_NEAR(got_total, want_total, 1e-6 * want_total) << n;
    for (int j = 0; j < 5; ++j)
      EXPECT_NEAR(got_mass[j], want_mass[j], 1e-6 * want_total + 1e-30) << n << " cut " << j;
    std::vector<int32_t> want_ids(n), got_ids(n);
    for (float t : {top, top - 1.0f, top - 8.0f}) {
      const size_t want_count = ref.gather_ge(x.data(), n, t, want_ids.data());
      const size_t got_count = avx2->gather_ge(x.data(), n, t, got_ids.data());
      ASSERT_EQ(got_count, want_count) << n;
      EXPECT_TRUE(std::equal(
          want_ids.begin(), want_ids.begin() + static_cast<ptrdiff_t>(want_count), got_ids.begin()))
          << n;
    }
    std::vector<uint32_t> words((n + 31) / 32);
    for (uint32_t& w : words)
      w = static_cast<uint32_t>(rng());
    if (!words.empty()) words[0] = 0xFFFFFFFFu;  // a fully allowed run of eight
    for (size_t num_words : {words.size(), words.size() / 2}) {
      a = x, b = x;
      ref.apply_bitmask(b.data(), n, words.data(), num_words);
      avx2->apply_bitmask(a.data(), n, words.data(), num_words);
      EXPECT_EQ(a, b) << n << " words " << num_words;
    }
  }
}

void expect_exp_accurate(const sampler_simd::Kernels& k);

TEST(SamplerSimd, ExpIsAccurateAcrossItsRange) {
  // exp_sums of one value is exp of it: the AVX2 polynomial to 4 ulp from 0 to the f32 normal
  // limit, 0 below it and for -inf.
  for (const sampler_simd::Kernels* k :
       {sampler_simd::avx2_kernels(), sampler_simd::avx512_kernels()}) {
    if (k != nullptr) expect_exp_accurate(*k);
  }
  if (sampler_simd::avx2_kernels() == nullptr) GTEST_SKIP() << "no AVX2 + FMA: no vector exp ran";
}

void expect_exp_accurate(const sampler_simd::Kernels& k) {
  SCOPED_TRACE(k.name);
  for (float x = -87.0f; x <= 0.0f; x += 0.173f) {
    std::vector<float> row(16, x);  // a full vector, so the SIMD path computes it
    const double e = k.exp_sums(row.data(), row.size(), 0.0f, nullptr, 0, nullptr) / 16;
    EXPECT_NEAR(e, std::exp(static_cast<double>(x)), 4.8e-7 * std::exp(static_cast<double>(x)))
        << x;
  }
  std::vector<float> tiny(16, -100.0f);
  EXPECT_EQ(k.exp_sums(tiny.data(), tiny.size(), 0.0f, nullptr, 0, nullptr), 0.0);
  std::vector<float> masked(16, kMasked);
  EXPECT_EQ(k.exp_sums(masked.data(), masked.size(), 0.0f, nullptr, 0, nullptr), 0.0);
}

}  // namespace
}  // namespace mm
