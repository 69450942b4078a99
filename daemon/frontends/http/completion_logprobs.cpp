#include "daemon/frontends/http/completion_logprobs.h"

#include <algorithm>

namespace mm::http {

using nlohmann::json;

namespace {

// OpenAI's clients read -inf as an error; vLLM clamps to -9999 the same way.
double finite(float logprob) {
  return std::max(static_cast<double>(logprob), -9999.0);
}

}  // namespace

void add_top_logprob(json& top, const std::string& key, float logprob) {
  auto it = top.find(key);
  if (it == top.end() || it->get<double>() < finite(logprob)) top[key] = finite(logprob);
}

void CompletionLogprobs::add(const std::string& piece, json logprob, json top) {
  tokens_.push_back(piece);
  token_logprobs_.push_back(std::move(logprob));
  top_logprobs_.push_back(std::move(top));
  text_offset_.push_back(offset_);
  offset_ += piece.size();
}

void CompletionLogprobs::add_prompt(std::span<const int32_t> prompt,
                                    std::span<const ScoredToken> scores, const TokenLabel& label) {
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::string piece = label(prompt[i]);
    if (i == 0 || i - 1 >= scores.size()) {
      add(piece, nullptr, nullptr);
      continue;
    }
    const ScoredToken& s = scores[i - 1];
    json top = json::object();
    add_top_logprob(top, piece, s.logprob);
    for (const TokenLogprob& t : s.top_logprobs)
      add_top_logprob(top, label(t.token_id), t.logprob);
    add(piece, finite(s.logprob), std::move(top));
  }
}

void CompletionLogprobs::add_generated(std::span<const SampleResult> tokens,
                                       const TokenLabel& label) {
  for (const SampleResult& token : tokens) {
    json top = json::object();
    for (const TokenLogprob& t : token.top_logprobs)
      add_top_logprob(top, label(t.token_id), t.logprob);
    add(label(token.token_id), token.logprob ? json(finite(token.logprob->logprob)) : json(nullptr),
        std::move(top));
  }
}

json CompletionLogprobs::to_json() const {
  return {{"tokens", tokens_},
          {"token_logprobs", token_logprobs_},
          {"top_logprobs", top_logprobs_},
          {"text_offset", text_offset_}};
}

json prompt_logprobs_json(std::span<const int32_t> prompt, std::span<const ScoredToken> scores,
                          const TokenLabel& text) {
  json out = json::array();
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (i == 0 || i - 1 >= scores.size()) {
      out.push_back(nullptr);
      continue;
    }
    const ScoredToken& s = scores[i - 1];
    json entry = json::object();
    entry[std::to_string(s.token_id)] = {
        {"logprob", finite(s.logprob)}, {"rank", s.rank}, {"decoded_token", text(s.token_id)}};
    for (size_t k = 0; k < s.top_logprobs.size(); ++k) {
      const TokenLogprob& t = s.top_logprobs[k];
      const std::string key = std::to_string(t.token_id);
      if (entry.contains(key)) continue;  // the prompt token itself, already there
      entry[key] = {{"logprob", finite(t.logprob)},
                    {"rank", static_cast<int>(k) + 1},
                    {"decoded_token", text(t.token_id)}};
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace mm::http
