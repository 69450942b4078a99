// What a request asks of the sampler and the stop logic (vLLM semantics). Plain value type
// filled by the frontends from their wire formats.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace mm {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0 or -1: off
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // on prompt and output tokens; > 1 discourages
  float frequency_penalty = 0.0f;   // per occurrence in the output
  float presence_penalty = 0.0f;    // once per token present in the output
  std::optional<uint64_t> seed;     // same seed, same output, whatever else is batched
  std::unordered_map<int32_t, float> logit_bias;
  int max_tokens = 256;  // 0: compute the prompt only (scoring), sample nothing
  int min_tokens = 0;  // stop tokens and EOS are masked until this many are generated
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop;  // stop strings (matched on detokenized text)
  int logprobs = -1;              // -1: none; n >= 0: the sampled token's and the top n
  // vLLM's prompt_logprobs: -1 none; n >= 0: each prompt token's logprob, rank and the top n
  // (prompt_logprobs.h). Such a request does not read the prefix cache: every prompt position
  // is computed, so every one has logits.
  int prompt_logprobs = -1;
  // vLLM's allowed_token_ids: only these may be sampled (empty: any).
  std::vector<int32_t> allowed_token_ids;
  // vLLM's bad_words, as token sequences: the last id of each is masked whenever the output so
  // far ends with the ids before it (a one-id sequence is always masked).
  std::vector<std::vector<int32_t>> bad_words_token_ids;
};

}  // namespace mm
