// The seam between the frontends and daemon/text: turns a text prompt or chat messages (with
// tools) into prompt token ids, and a request's generated ids into text, reasoning and
// tool-call deltas, matching stop strings. mmd without an adapter serves token ids only and
// refuses text prompts with kNotSupported. The lead wires daemon/text's tokenizer, chat
// template, detokenizer and parsers behind this interface.
// Called on the frontend's loop thread only (never on the engine thread).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ipc/protocol.h"

namespace mm {

// One request's output side: fed the generated ids in order, appends what is now complete.
class TextStream {
 public:
  virtual ~TextStream() = default;
  // Appends text / reasoning / tool-call pieces for `token_ids` to `out` (bytes of an
  // incomplete UTF-8 character or a possible stop-string prefix may be held back).
  virtual void push(std::span<const int32_t> token_ids, ipc::Delta& out) = 0;
  // The request ended: appends whatever was held back.
  virtual void finish(ipc::Delta& out) = 0;
  // True once a stop string matched; the frontend then cancels the request and reports it
  // as finished with reason "stop". Text after the match is never appended.
  virtual bool stop_matched() const = 0;
  // Runs text the daemon wrote into the prompt on the model's behalf (a forced tool-call
  // opening) through the parsers before any token, appending what it completes to `out`.
  virtual void prime(const std::string& text, ipc::Delta& out) { (void)text, (void)out; }
};

class TextAdapter {
 public:
  virtual ~TextAdapter() = default;
  // Throw std::invalid_argument naming the problem (unknown role, template error, bad tool).
  virtual std::vector<int32_t> encode_prompt(const std::string& prompt) = 0;
  virtual std::vector<int32_t> render_chat(const std::vector<ipc::ChatMessage>& messages,
                                           const std::vector<std::string>& tools_json,
                                           const std::string& tool_choice,
                                           bool add_generation_prompt) = 0;
  // `chat`: the output goes through the reasoning and tool-call parsers; `tools_json` (the
  // request's tools) types the tool-call arguments by their schemas.
  virtual std::unique_ptr<TextStream> open_stream(bool chat, const std::vector<std::string>& stop,
                                                  const std::vector<std::string>& tools_json) = 0;
  // The raw bytes one token stands for (empty when unknown), for logprobs.
  virtual std::string token_bytes(int32_t id) {
    (void)id;
    return {};
  }
  // Text of a run of ids, as Hugging Face decodes it (invalid UTF-8 becomes U+FFFD).
  virtual std::string decode(std::span<const int32_t> ids) {
    std::string out;
    for (int32_t id : ids)
      out += token_bytes(id);
    return out;
  }
};

}  // namespace mm
