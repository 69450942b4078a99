// What the D-Bus frontend needs from the text layer (daemon/text/) to accept text prompts
// and chats and to put decoded text in Delta signals. mmd's main supplies one built on the
// model's tokenizer and chat template; without one, StartTextCompletion and StartChat answer
// org.mmd.Error.NotSupported and Delta text is empty.
// Called only on the D-Bus service thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace mm {

// Incremental detokenization of one request: returns only complete UTF-8 text.
class DbusTextStream {
 public:
  virtual ~DbusTextStream() = default;
  virtual std::string push(std::span<const int32_t> token_ids) = 0;
  virtual std::string finish() = 0;  // whatever text is still held back
};

class DbusTextCodec {
 public:
  virtual ~DbusTextCodec() = default;
  // Both throw std::invalid_argument (reported as org.mmd.Error.InvalidArgument with its
  // message) for input they cannot use.
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  // messages_json: a JSON array of {"role", "content"} objects; returns the rendered,
  // tokenized prompt with the generation prompt appended.
  virtual std::vector<int32_t> render_chat(const std::string& messages_json) const = 0;
  virtual std::unique_ptr<DbusTextStream> new_stream() const = 0;
};

}  // namespace mm
