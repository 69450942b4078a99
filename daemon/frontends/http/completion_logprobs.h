// The logprobs JSON of /v1/completions (OpenAI's legacy shape: tokens, token_logprobs,
// top_logprobs, text_offset) for prompt tokens (echo) and generated ones, and vLLM's
// prompt_logprobs list. Token labels are the token's text, or "token_id:N" with vLLM's
// return_tokens_as_token_ids. top_logprobs is keyed by label: distinct ids whose text is the
// same (bytes of a split UTF-8 character all read U+FFFD) would share a key, so the most
// probable one keeps it, whatever the order they come in; with token-id labels no key is
// shared. Loop thread; pure apart from the adapter's decoding.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "daemon/engine/prompt_logprobs.h"
#include "daemon/engine/sampler.h"

namespace mm::http {

// A token's label: its text (decoded alone) or "token_id:N".
using TokenLabel = std::function<std::string(int32_t id)>;

// Adds `logprob` under `key` unless the key holds a larger one already.
void add_top_logprob(nlohmann::json& top, const std::string& key, float logprob);

class CompletionLogprobs {
 public:
  explicit CompletionLogprobs(size_t text_offset = 0) : offset_(text_offset) {}
  // Prompt tokens (echo): the first has no logprob (null, as vLLM); each other one carries its
  // own logprob and, in top_logprobs, itself and its top n. `scores` [prompt.size() - 1].
  void add_prompt(std::span<const int32_t> prompt, std::span<const ScoredToken> scores,
                  const TokenLabel& label);
  // Generated tokens: each one's logprob and its top n.
  void add_generated(std::span<const SampleResult> tokens, const TokenLabel& label);
  bool empty() const { return tokens_.empty(); }
  size_t text_offset() const { return offset_; }  // bytes of labels so far
  nlohmann::json to_json() const;

 private:
  void add(const std::string& piece, nlohmann::json logprob, nlohmann::json top);
  nlohmann::json tokens_ = nlohmann::json::array();
  nlohmann::json token_logprobs_ = nlohmann::json::array();
  nlohmann::json top_logprobs_ = nlohmann::json::array();
  nlohmann::json text_offset_ = nlohmann::json::array();
  size_t offset_ = 0;
};

// vLLM's prompt_logprobs: [null, {"<id>": {"logprob", "rank", "decoded_token"}}, ...], each
// entry the prompt token and its top n. `text` decodes one id.
nlohmann::json prompt_logprobs_json(std::span<const int32_t> prompt,
                                    std::span<const ScoredToken> scores, const TokenLabel& text);

}  // namespace mm::http
