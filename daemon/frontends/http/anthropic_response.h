// Anthropic's Messages API answers: a whole message ({"type":"message","content":[blocks]}), the
// server-sent events of a streamed one (message_start, ping, content_block_start / _delta / _stop
// with text_delta, thinking_delta, signature_delta and input_json_delta, message_delta with the
// stop_reason and usage, message_stop, error) and errors ({"type":"error","error":{...}}). The
// deltas come from the request's TextStream (reasoning, text, tool calls) in order; reasoning
// becomes thinking blocks signed by mmd (a digest of the text, so a client can send the block
// back unchanged: mmd does not check it). Pure formatting: no I/O. One writer per request, used
// on one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/frontends/http/output_format.h"
#include "ipc/protocol.h"

namespace mm::http {

// Anthropic's error type for an HTTP status ("invalid_request_error", "not_found_error", ...).
const char* anthropic_error_type(int status);
// {"type":"error","error":{"type":...,"message":...}}
std::string anthropic_error_body(int status, const std::string& message);

// The signature mmd gives a thinking block: "mmd1." and 16 hex digits of the text's FNV-1a hash.
std::string thinking_signature(const std::string& thinking);

// One /v1/messages answer, fed the TextStream's pieces by OpenAiFrontend (as every OutputFormat).
class AnthropicMessageWriter : public OutputFormat {
 public:
  // `stream`: events are produced as deltas arrive; otherwise the blocks are kept for end().
  // `prompt_tokens` goes in message_start's usage.
  AnthropicMessageWriter(bool stream, std::string id, std::string model, int prompt_tokens);

  bool stream() const override { return stream_; }
  // Folds in one delta: thinking, then text, then tool calls, each opening a block when its kind
  // changes (text that is only whitespace between blocks opens none). The first call of a stream
  // also returns message_start and a ping.
  std::string push(const ipc::Delta& delta, int num_tokens) override;
  // Streams: the open block closed, message_delta (stop_reason, usage) and message_stop, or an
  // error event. Whole answers: the message.
  std::string end(const OutputEnd& end) override;

  // Set once a stop string matched, before end(): stop_reason becomes "stop_sequence".
  void set_stop_sequence(std::string stop) { stop_sequence_ = std::move(stop); }
  // An error after the stream began: an `error` event (the stream then ends).
  static std::string error_event(int status, const std::string& message);

 private:
  enum class Kind : uint8_t { kNone, kThinking, kText, kToolUse };
  struct Block {
    Kind kind = Kind::kNone;
    std::string text;  // thinking or text (whole responses), or the tool's JSON arguments
    std::string id;    // tool_use
    std::string name;  // tool_use
    int tool_index = -1;
  };
  void open(Block block);
  void close_open_block();
  void append(Kind kind, const std::string& piece);
  void event(const std::string& name, const std::string& json);
  std::string stop_reason(const OutputEnd& end) const;

  bool stream_;
  std::string id_;
  std::string model_;
  int prompt_tokens_;
  bool started_ = false;
  std::vector<Block> blocks_;  // whole responses: every block; streams: the open one only
  Kind open_kind_ = Kind::kNone;
  int open_index_ = -1;  // index of the open block in the message's content
  uint64_t thinking_hash_ = 0;
  bool any_tool_use_ = false;
  std::string pending_space_;  // whitespace-only text that may yet lead a text block
  std::optional<std::string> stop_sequence_;
  std::string events_;
};

}  // namespace mm::http
