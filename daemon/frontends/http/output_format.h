// One generation's answer in a wire format of its own (the Responses API's items and events),
// fed by OpenAiFrontend the text, reasoning and tool-call pieces its TextStream made. The format
// keeps what it needs and hands back the bytes to send; it never touches the connection, so it is
// tested without a daemon. Owned by one exchange on the loop thread.
#pragma once

#include <string>

#include "ipc/protocol.h"

namespace mm::http {

// How a generation ended.
struct OutputEnd {
  std::string finish_reason;  // "stop", "length", "abort" (cancelled) or "error"
  std::string error;          // why, for "error"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;
};

class OutputFormat {
 public:
  virtual ~OutputFormat() = default;
  virtual bool stream() const = 0;
  // The pieces of the next token(s), in order; `num_tokens` is how many tokens the request has
  // generated so far. Streams: the server-sent events to write now (the stream's opening events
  // come with the first call, even for an empty delta). Whole answers: "" (kept for end()).
  virtual std::string push(const ipc::Delta& delta, int num_tokens) = 0;
  // Streams: the closing events. Whole answers: the response body (JSON).
  virtual std::string end(const OutputEnd& end) = 0;
};

}  // namespace mm::http
