#include "daemon/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "daemon/engine/bit_mix.h"

namespace mm {
namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

// Log-softmax of the raw logits for the requested top entries and the sampled token.
void fill_logprobs(std::span<const float> raw, int32_t sampled, int top_n, SampleResult& out) {
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

int32_t argmax(std::span<const float> logits) {
  // Ties go to the lower id, deterministically.
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

double sampler_uniform(uint64_t seed, uint64_t index) {
  const uint64_t bits = mix64(mix64(seed ^ 0x6A09E667F3BCC909ull) + index * 0x9E3779B97F4A7C15ull);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;  // 53 random bits
}

SampleResult sample_token(std::span<float> logits, const SamplingParams& params,
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
    result.token_id = argmax(logits);
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
  if (params.logprobs >= 0) fill_logprobs(raw, result.token_id, params.logprobs, result);
  return result;
}

}  // namespace mm
