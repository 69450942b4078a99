// The seam between the frontends and daemon/text: turns a text prompt or chat messages (with
// tools) into prompt token ids, and a request's generated ids into text, reasoning and
// tool-call deltas, matching stop strings. mmd without an adapter serves token ids only and
// refuses text prompts with kNotSupported. ModelText (daemon/service) wires daemon/text's
// tokenizer, chat template, detokenizer and parsers behind this interface for every frontend.
// Adapters are immutable and callable from any frontend thread (never the engine thread); a
// stream belongs to one request and one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/engine/token_constraint.h"
#include "daemon/text/chat_prompt.h"
#include "daemon/text/chat_request.h"
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
  // Which of TextStreamOptions::stop matched (its index); nullopt before a match or when unknown.
  virtual std::optional<size_t> matched_stop() const { return std::nullopt; }
  // Runs text the daemon wrote into the prompt on the model's behalf (a forced tool-call
  // opening) through the parsers before any token, appending what it completes to `out`.
  virtual void prime(const std::string& text, ipc::Delta& out) { (void)text, (void)out; }
};

// How one request's output becomes text.
struct TextStreamOptions {
  // A chat: the output goes through the reasoning parser and, when the request offers tools it
  // may call, the tool-call parser typed by their schemas. Null: a plain completion.
  const text::ChatRequest* chat = nullptr;
  std::vector<std::string> stop;
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;  // vLLM's default: `]~b]`, `[e~[` never show as text
};

class TextAdapter {
 public:
  virtual ~TextAdapter() = default;
  // Both throw std::invalid_argument naming the problem (text::ChatRequestError names the
  // field: a bad message, a template error, tool_choice without the tool-call parser).
  virtual std::vector<int32_t> encode_prompt(const std::string& prompt) = 0;
  // The one prompt path of every frontend's chat (text::build_chat_prompt).
  virtual text::ChatPrompt render_chat(const text::ChatRequest& request) = 0;
  virtual std::unique_ptr<TextStream> open_stream(const TextStreamOptions& options) = 0;
  // The token constraint of a chat (tool_choice required / named, an output format), for
  // EngineRequest::constraint; null when the answer is free. Throws text::ChatRequestError
  // naming the field (a schema keyword mmd cannot constrain to).
  virtual std::shared_ptr<TokenConstraint> make_constraint(const text::ChatRequest& request) {
    (void)request;
    return nullptr;
  }
  // Largest token id + 1 (0: unknown).
  virtual int32_t vocab_size() const { return 0; }
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

// Opens the output stream of a chat and runs the opening the daemon wrote for a forced tool call
// through its parsers, appending what that completes to `primed`.
inline std::unique_ptr<TextStream> open_chat_stream(TextAdapter& text,
                                                    const text::ChatPrompt& prompt,
                                                    TextStreamOptions options, ipc::Delta& primed) {
  std::unique_ptr<TextStream> stream = text.open_stream(options);
  if (!prompt.forced_opening.empty()) stream->prime(prompt.forced_opening, primed);
  return stream;
}

}  // namespace mm
