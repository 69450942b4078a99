// Incremental parser of MiniMax-M2 tool calls in the content stream (spec §6.1, §6.4-§6.7):
//   <minimax:tool_call>
//   <invoke name="F"><parameter name="K">V</parameter>...</invoke> ...
//   </minimax:tool_call>
// Events: content text outside calls; a call's start (index, id, name) as soon as its name is
// complete; argument deltas that concatenate to the call's JSON arguments (string-typed values
// stream as they are generated, other values when complete, typed by the tool's JSON schema); the
// call's end. Tolerates single-quoted and bare names, a parameter ended by the next `<parameter` or
// by `</invoke>`, several invokes per block and several blocks. A literal `</parameter>` (or
// `</invoke>`) inside a value ends it only when followed by the next tag or the end of output.
// Text after a block is content. Malformed text is content; an invoke cut off by the end of output
// is reported aborted and its raw text returned as content (nothing lost). Unknown tool names (when
// tools are given) leave the invoke as content. Owned by one request (one thread).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/text/tool_schema.h"

namespace mm::text {

struct ToolCallEvent {
  enum class Kind { kContent, kStart, kArguments, kEnd, kAborted };
  Kind kind;
  int index = -1;    // call index within the response (kStart..kAborted)
  std::string text;  // kContent: text; kStart: tool name; kArguments: JSON fragment
  std::string id;    // kStart: "call_" + 24 hex digits
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON object text
};

struct ParsedToolCalls {
  std::string content;
  std::vector<ToolCall> calls;
};

class ToolCallParser {
 public:
  // `tools` empty: any tool name is accepted and values are strings. `id_seed` makes ids
  // reproducible (tests); 0 seeds from std::random_device.
  explicit ToolCallParser(std::vector<ToolSchema> tools, uint64_t id_seed = 0);

  std::vector<ToolCallEvent> push(std::string_view text);
  std::vector<ToolCallEvent> finish();

  // Non-streaming: the same parser over the whole text; aborted calls are left out.
  static ParsedToolCalls parse(std::string_view text, std::vector<ToolSchema> tools,
                               uint64_t id_seed = 0);

 private:
  enum class State { kText, kBlock, kInvokeBody, kParamValue, kRawInvoke };

  bool step(std::vector<ToolCallEvent>& out);
  bool step_text(std::vector<ToolCallEvent>& out);
  bool step_block(std::vector<ToolCallEvent>& out);
  bool step_invoke_body(std::vector<ToolCallEvent>& out);
  bool step_param_value(std::vector<ToolCallEvent>& out);
  bool step_raw_invoke(std::vector<ToolCallEvent>& out);
  void consume(size_t n);  // drops n bytes of buffer_, remembering them while inside an invoke
  void content(std::string_view text, std::vector<ToolCallEvent>& out);
  void arguments(std::string text, std::vector<ToolCallEvent>& out);
  void close_invoke(std::vector<ToolCallEvent>& out);
  void finish_param(size_t value_end, std::vector<ToolCallEvent>& out);
  const ToolSchema* find_tool(std::string_view name) const;
  std::string next_id();

  std::vector<ToolSchema> tools_;
  std::mt19937_64 rng_;
  std::string buffer_;
  bool final_ = false;
  State state_ = State::kText;
  int num_calls_ = 0;       // index of the next call
  std::string invoke_raw_;  // raw text of the open invoke, returned as content if it aborts
  std::string block_raw_;   // block text not yet part of a call (opener, spaces)
  bool block_has_calls_ = false;
  const ToolSchema* tool_ = nullptr;
  int num_params_ = 0;  // parameters started in the open invoke
  std::string param_name_;
  bool streaming_value_ = false;
  size_t scan_pos_ = 0;                     // value bytes before this cannot start a terminator
  size_t value_start_ = std::string::npos;  // first non-space value byte
  size_t emitted_end_ = 0;  // value bytes [value_start_, emitted_end_) were streamed
};

}  // namespace mm::text
