#include "daemon/text/detokenizer.h"

#include "daemon/text/utf8.h"

namespace mm::text {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, DetokenizerOptions options)
    : tokenizer_(tokenizer), options_(std::move(options)) {}

void StreamingDetokenizer::decode_pending(bool final) {
  // Keep a tail that more bytes could still complete; everything before it is final.
  const size_t keep = final ? 0 : incomplete_tail_length(pending_bytes_);
  const size_t ready = pending_bytes_.size() - keep;
  append_lossy(std::string_view(pending_bytes_).substr(0, ready), held_text_);
  pending_bytes_.erase(0, ready);
}

std::string StreamingDetokenizer::release(bool final) {
  // The earliest stop string occurrence wins; at equal positions, the first listed.
  size_t best_pos = std::string::npos;
  for (size_t i = 0; i < options_.stop_strings.size(); ++i) {
    const std::string& stop = options_.stop_strings[i];
    if (stop.empty()) continue;
    const size_t pos = held_text_.find(stop);
    if (pos != std::string::npos && pos < best_pos) {
      best_pos = pos;
      matched_stop_ = i;
    }
  }
  if (best_pos != std::string::npos) {
    stopped_ = true;
    const size_t end =
        best_pos +
        (options_.include_stop_string ? options_.stop_strings[*matched_stop_].size() : 0);
    std::string out = held_text_.substr(0, end);
    held_text_.clear();
    pending_bytes_.clear();
    return out;
  }
  size_t keep = 0;
  if (!final) {
    // Hold back the longest suffix that is a proper prefix of some stop string.
    for (const std::string& stop : options_.stop_strings) {
      const size_t max_len = std::min(stop.size() - (stop.empty() ? 0 : 1), held_text_.size());
      for (size_t len = max_len; len > keep; --len) {
        if (held_text_.compare(held_text_.size() - len, len, stop, 0, len) == 0) {
          keep = len;
          break;
        }
      }
    }
  }
  std::string out = held_text_.substr(0, held_text_.size() - keep);
  held_text_.erase(0, held_text_.size() - keep);
  return out;
}

std::string StreamingDetokenizer::push(int32_t id) {
  if (stopped_) return {};
  if (tokenizer_.is_added(id)) {
    if (options_.skip_special_tokens && tokenizer_.is_special(id)) return {};
    // As Hugging Face's decode, an added token ends the run of byte-decoded model tokens.
    decode_pending(/*final=*/true);
    held_text_ += *tokenizer_.token_bytes(id);
  } else if (auto bytes = tokenizer_.token_bytes(id)) {
    pending_bytes_ += *bytes;
    decode_pending(/*final=*/false);
  } else {
    return {};  // unknown id: ignored, as Hugging Face's decode does
  }
  return release(/*final=*/false);
}

std::string StreamingDetokenizer::finish() {
  if (stopped_) return {};
  decode_pending(/*final=*/true);
  return release(/*final=*/true);
}

}  // namespace mm::text
