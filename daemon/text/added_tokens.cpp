#include "daemon/text/added_tokens.h"

namespace mm::text {
namespace {

bool is_space(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}
bool is_word(unsigned char c) {
  return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

}  // namespace

void AddedTokenMatcher::add(const AddedToken& token) {
  if (token.content.empty()) return;  // can never match
  const int index = static_cast<int>(tokens_.size());
  tokens_.push_back(token);
  Pass& pass = token.normalized ? normalized_pass_ : raw_pass_;
  pass.by_first_byte[static_cast<unsigned char>(token.content[0])].push_back(index);
  pass.any = true;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  if (!normalized_pass_.any) {
    split_pass(raw_pass_, text, out);
    return;
  }
  std::vector<Segment> first;
  split_pass(raw_pass_, text, first);
  for (const Segment& segment : first) {
    if (segment.added_id >= 0) {
      out.push_back(segment);
    } else {
      split_pass(normalized_pass_, segment.text, out);
    }
  }
}

void AddedTokenMatcher::split_pass(const Pass& pass, std::string_view text,
                                   std::vector<Segment>& out) const {
  size_t plain_start = 0;  // start of text not yet handed out
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates = pass.by_first_byte[static_cast<unsigned char>(text[pos])];
    const AddedToken* best = nullptr;
    for (int index : candidates) {
      const AddedToken& token = tokens_[static_cast<size_t>(index)];
      if (text.compare(pos, token.content.size(), token.content) == 0 &&
          (best == nullptr || token.content.size() > best->content.size())) {
        best = &token;
      }
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos;
    size_t end = pos + best->content.size();
    if (best->single_word) {
      const bool left_ok = begin == 0 || !is_word(static_cast<unsigned char>(text[begin - 1]));
      const bool right_ok = end == text.size() || !is_word(static_cast<unsigned char>(text[end]));
      if (!left_ok || !right_ok) {
        pos = end;  // the rejected match stays plain text; matching resumes after it
        continue;
      }
    }
    if (best->lstrip) {
      while (begin > plain_start && is_space(static_cast<unsigned char>(text[begin - 1])))
        --begin;
    }
    if (best->rstrip) {
      while (end < text.size() && is_space(static_cast<unsigned char>(text[end])))
        ++end;
    }
    if (begin > plain_start) out.push_back({text.substr(plain_start, begin - plain_start), -1});
    out.push_back({text.substr(begin, end - begin), best->id});
    plain_start = end;
    pos = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
}

}  // namespace mm::text
