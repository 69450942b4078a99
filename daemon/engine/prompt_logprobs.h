// Prompt log-probabilities (vLLM's prompt_logprobs, what lm-eval's loglikelihood tasks read):
// the logits computed at prompt position p score the prompt token at p + 1 against the
// model's raw distribution (log-softmax before any sampling transformation, as vLLM reports
// them). The first prompt token has no score. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "daemon/engine/sampler.h"

namespace mm {

// One prompt token's score.
struct ScoredToken {
  int32_t token_id = 0;
  float logprob = 0.0f;
  int rank = 0;                            // 1: the most likely id (ties go to the lower id)
  std::vector<TokenLogprob> top_logprobs;  // the top n, most likely first
};

// Scores `token` under `logits` [vocab] (f32 raw logits) with the top `top_n` alternatives.
ScoredToken score_token(std::span<const float> logits, int32_t token, int top_n);

}  // namespace mm
