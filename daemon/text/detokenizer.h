// Streaming detokenizer: turns generated token ids into text one step at a time. Emits only
// complete UTF-8 (bytes of a character split across tokens are held until it completes), finds stop
// strings that straddle token boundaries, and emits nothing after a stop string. The concatenation
// of every push() and finish() equals Tokenizer::decode of all ids, cut before the first stop
// string. Owned by one request (one thread); the Tokenizer it reads must outlive it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/text/tokenizer.h"

namespace mm::text {

struct DetokenizerOptions {
  bool skip_special_tokens = false;
  std::vector<std::string> stop_strings;  // empty strings are ignored
  bool include_stop_string = false;       // emit the matched stop string itself
};

class StreamingDetokenizer {
 public:
  StreamingDetokenizer(const Tokenizer& tokenizer, DetokenizerOptions options);

  // Adds one generated token; returns the text that became final (possibly empty).
  std::string push(int32_t id);
  // End of generation: returns what was held back (an incomplete UTF-8 tail becomes U+FFFD).
  std::string finish();

  // True once a stop string was found; later pushes return "".
  bool stopped() const { return stopped_; }
  // Index into options.stop_strings of the stop string that matched.
  std::optional<size_t> matched_stop() const { return matched_stop_; }

 private:
  void decode_pending(bool final);
  std::string release(bool final);

  const Tokenizer& tokenizer_;
  DetokenizerOptions options_;
  std::string pending_bytes_;  // model-token bytes that do not yet form complete UTF-8
  std::string held_text_;      // decoded text not yet emitted (may start a stop string)
  bool stopped_ = false;
  std::optional<size_t> matched_stop_;
};

}  // namespace mm::text
