// Streaming reasoning parsers for MiniMax-M2 output (spec §6.2, §6.3, §6.7).
//   kSplit (vLLM `minimax_m2`, current state-machine semantics): starts in reasoning (the prompt
//     ends with the `<think>\n` prefill); a `<think>` inside reasoning is swallowed; `</think>`
//     ends reasoning; `<minimax:tool_call>` while reasoning ends it implicitly and stays in content
//     for the tool parser; any later `</think>` in content is dropped. Reasoning is stripped of
//     surrounding newlines and content of leading newlines (as the chat template does on replay).
//   kAppendThink (vLLM `minimax_m2_append_think`): "<think>" is prepended once and everything is
//     content, so clients can replay it verbatim.
// Partial markers at a chunk end are held back. Owned by one request (one thread).
#pragma once

#include <string>
#include <string_view>

namespace mm::text {

enum class ReasoningMode { kSplit, kAppendThink };

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  // `starts_in_reasoning`: the prompt ended inside `<think>` (true for the MiniMax template's
  // generation prompt; false when thinking was closed in the prompt).
  explicit ReasoningParser(ReasoningMode mode, bool starts_in_reasoning = true);

  ReasoningDelta push(std::string_view text);
  // End of output: releases held text.
  ReasoningDelta finish();

  // Whether reasoning is over (kSplit: `</think>` or a tool call seen; kAppendThink: the last of
  // `<think>`/`</think>` seen is `</think>`).
  bool reasoning_ended() const { return !in_reasoning_; }

 private:
  ReasoningDelta process(bool final);
  void emit_reasoning(std::string_view text, ReasoningDelta& out);
  void emit_content(std::string_view text, ReasoningDelta& out);

  ReasoningMode mode_;
  bool in_reasoning_;
  bool first_push_ = true;
  std::string buffer_;              // unprocessed text
  std::string held_newlines_;       // reasoning newlines that may be trailing
  bool reasoning_started_ = false;  // a non-newline reasoning character was emitted
  bool content_started_ = false;    // a non-newline content character was emitted
  std::string tail_;  // kAppendThink: recent text, to find markers split across pushes
};

}  // namespace mm::text
