// Turns one sequence's logits into a token (vLLM semantics and order: the constraint bitmask,
// then the allowed_token_ids and bad_words masks, then logit bias and min_tokens masking, then
// repetition / frequency / presence penalties, then temperature, min-p, top-k, top-p).
// Randomness comes from a counter-based generator keyed by the request's seed and the index of
// the token being sampled, so a seeded request gives the same tokens whatever else is in the
// batch.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "daemon/engine/sampling_params.h"

namespace mm {

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token_id = 0;
  // When params.logprobs >= 0: the sampled token's log-probability and the top n, from the
  // model's raw logits (before any sampling transformation, as vLLM reports them).
  std::optional<TokenLogprob> logprob;
  std::vector<TokenLogprob> top_logprobs;
};

struct SamplerContext {
  std::span<const int32_t> prompt_token_ids;
  std::span<const int32_t> output_token_ids;
  std::span<const int32_t> eos_token_ids;  // masked until min_tokens unless ignore_eos
  uint64_t seed = 0;                       // the request's seed, or one the engine drew for it
  // A constraint (e.g. a grammar) applied first, before allowed_token_ids and bad_words.
  // empty: every token; else bit (i % 32) of word i / 32 set = token i may be sampled. Tokens
  // past the end of the mask are not allowed; bits for ids >= vocab are ignored.
  std::span<const uint32_t> allowed_token_bitmask;
};

// `logits` [vocab] in fp32; it is used as scratch and left modified.
SampleResult sample_token(std::span<float> logits, const SamplingParams& params,
                          const SamplerContext& context);

// The uniform number in [0, 1) used for the token at `index` of a request seeded `seed`.
double sampler_uniform(uint64_t seed, uint64_t index);

}  // namespace mm
