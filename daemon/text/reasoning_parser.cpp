#include "daemon/text/reasoning_parser.h"

#include <algorithm>

#include "daemon/text/markers.h"

namespace mm::text {

ReasoningParser::ReasoningParser(ReasoningMode mode, bool starts_in_reasoning)
    : mode_(mode), in_reasoning_(starts_in_reasoning) {}

void ReasoningParser::emit_reasoning(std::string_view text, ReasoningDelta& out) {
  for (char c : text) {
    if (c == '\n') {
      if (reasoning_started_) held_newlines_.push_back(c);  // leading newlines are dropped
      continue;
    }
    reasoning_started_ = true;
    out.reasoning += held_newlines_;
    held_newlines_.clear();
    out.reasoning.push_back(c);
  }
}

void ReasoningParser::emit_content(std::string_view text, ReasoningDelta& out) {
  if (!content_started_) {
    const size_t start = text.find_first_not_of('\n');
    if (start == std::string_view::npos) return;
    text.remove_prefix(start);
    content_started_ = true;
  }
  out.content.append(text);
}

ReasoningDelta ReasoningParser::push(std::string_view text) {
  if (mode_ == ReasoningMode::kAppendThink) {
    ReasoningDelta out;
    if (first_push_ && in_reasoning_) out.content = std::string(kThinkOpen);
    first_push_ = false;
    out.content.append(text);
    // Track the last of <think> / </think> across chunk boundaries.
    tail_.append(text);
    const size_t open = tail_.rfind(kThinkOpen);
    const size_t close = tail_.rfind(kThinkClose);
    if (open != std::string::npos && (close == std::string::npos || open > close))
      in_reasoning_ = true;
    if (close != std::string::npos && (open == std::string::npos || close > open))
      in_reasoning_ = false;
    if (tail_.size() > kToolCallOpen.size()) tail_.erase(0, tail_.size() - kToolCallOpen.size());
    return out;
  }
  first_push_ = false;
  buffer_.append(text);
  return process(false);
}

ReasoningDelta ReasoningParser::finish() {
  if (mode_ == ReasoningMode::kAppendThink) {
    ReasoningDelta out;
    if (first_push_ && in_reasoning_) out.content = std::string(kThinkOpen);
    first_push_ = false;
    return out;
  }
  ReasoningDelta out = process(true);
  held_newlines_.clear();  // trailing reasoning newlines are stripped
  return out;
}

ReasoningDelta ReasoningParser::process(bool final) {
  ReasoningDelta out;
  while (!buffer_.empty()) {
    if (in_reasoning_) {
      const size_t open = buffer_.find(kThinkOpen);
      const size_t close = buffer_.find(kThinkClose);
      const size_t tool = buffer_.find(kToolCallOpen);
      const size_t first = std::min({open, close, tool});
      if (first == std::string::npos) {
        const size_t keep =
            final ? 0 : partial_marker_suffix(buffer_, {kThinkOpen, kThinkClose, kToolCallOpen});
        emit_reasoning(std::string_view(buffer_).substr(0, buffer_.size() - keep), out);
        buffer_.erase(0, buffer_.size() - keep);
        return out;
      }
      emit_reasoning(std::string_view(buffer_).substr(0, first), out);
      if (first == open) {
        buffer_.erase(0, first + kThinkOpen.size());  // a re-emitted <think> is swallowed
      } else if (first == close) {
        buffer_.erase(0, first + kThinkClose.size());
        held_newlines_.clear();
        in_reasoning_ = false;
      } else {
        buffer_.erase(0, first);  // the tool-call marker stays for the tool parser
        held_newlines_.clear();
        in_reasoning_ = false;
      }
      continue;
    }
    const size_t close = buffer_.find(kThinkClose);
    if (close == std::string::npos) {
      const size_t keep = final ? 0 : partial_marker_suffix(buffer_, {kThinkClose});
      emit_content(std::string_view(buffer_).substr(0, buffer_.size() - keep), out);
      buffer_.erase(0, buffer_.size() - keep);
      return out;
    }
    emit_content(std::string_view(buffer_).substr(0, close), out);  // repeated </think> is dropped
    buffer_.erase(0, close + kThinkClose.size());
  }
  return out;
}

}  // namespace mm::text
