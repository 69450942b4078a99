// The constraint engine's entry points: a request's structured-output or tool-choice rule
// compiled to a grammar and matched token by token over the model's vocabulary.
//   - tool_choice required / named: MiniMax's tool-call block after the daemon's forced opening
//     (chat_prompt.h), byte for byte as the chat template renders calls and the tool-call parser
//     reads them back: allowed names, each tool's parameters per its schema (strings raw, other
//     values JSON), required parameters present, `</invoke>`, more calls (required only), then
//     `</minimax:tool_call>` and the end of the turn.
//   - response_format json_object / json_schema, guided_json / guided_regex / guided_choice:
//     the answer's content; after the reasoning (`...</think>`) when `after_reasoning`.
// Errors: text::ChatRequestError naming the request field (and the schema keyword's path).
// Thread-safe: compile functions are pure; a CompiledConstraint is immutable and shared; a
// TokenMatcher belongs to one request.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/constraint/grammar.h"
#include "daemon/constraint/matcher.h"
#include "daemon/constraint/vocab_index.h"
#include "daemon/engine/token_constraint.h"
#include "daemon/text/chat_request.h"

namespace mm::constraint {

// What the answer must be (kText is refused: nothing to compile).
using OutputSpec = text::OutputFormat;

// Everything but the vocabulary: the grammar's root and nodes.
std::shared_ptr<const Grammar> compile_output(const OutputSpec& spec, bool after_reasoning);
// `tools` as the request sent them; `named`: the forced tool's name ("" for required).
std::shared_ptr<const Grammar> compile_tool_calls(const text::JsonArray& tools,
                                                  const std::string& named,
                                                  const std::string& where = "tools");

// The constraint of a chat: its forced tool call (tool_choice required / named) or its output
// format; null when the answer is free. `reasoning_first`: a reasoning parser is on, so an output
// format starts after `</think>`. Throws text::ChatRequestError naming the field.
std::shared_ptr<TokenConstraint> make_chat_constraint(const text::ChatRequest& request,
                                                      std::shared_ptr<const VocabIndex> vocab,
                                                      bool reasoning_first);

// Compiled constraints by what the request asks (its tools and tool_choice, or its output
// format), so a repeated schema reuses its grammar and the states and masks earlier requests
// built. Thread-safe (least recently used entries leave past `capacity`).
class ConstraintCache {
 public:
  explicit ConstraintCache(size_t capacity = 64) : capacity_(capacity) {}
  // As make_chat_constraint.
  std::shared_ptr<TokenConstraint> make(const text::ChatRequest& request,
                                        std::shared_ptr<const VocabIndex> vocab,
                                        bool reasoning_first);

 private:
  size_t capacity_;
  std::mutex mutex_;
  uint64_t clock_ = 0;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const Matcher>, uint64_t>> entries_;
};

// Computes the vocabulary's inside sets of the DFAs every constraint uses (a JSON string's
// body, a raw tool-call value, the reasoning), so no request's first mask pays for them.
void prewarm(const VocabIndex& vocab);

// One request's matcher behind the engine's interface.
class TokenMatcher : public TokenConstraint {
 public:
  TokenMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabIndex> vocab)
      : matcher_(std::move(grammar), std::move(vocab)) {}
  // A copy of `prototype` (at its start), sharing its tables.
  explicit TokenMatcher(const Matcher& prototype) : matcher_(prototype) {}
  void fill_allowed(std::span<uint32_t> bitmask) override { matcher_.fill_mask(bitmask); }
  bool advance(int32_t token_id) override { return matcher_.advance_token(token_id); }
  bool finished() const override { return matcher_.ended(); }
  Matcher& matcher() { return matcher_; }

 private:
  Matcher matcher_;
};

}  // namespace mm::constraint
