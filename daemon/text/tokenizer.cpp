#include "daemon/text/tokenizer.h"

#include <deque>

#include "daemon/text/byte_level.h"
#include "daemon/text/tokenizer_impl.h"
#include "daemon/text/utf8.h"

namespace mm::text {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::Impl::encode_valid(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<std::string_view> pieces{text};
  std::vector<std::string_view> next;
  std::deque<std::string> owned;  // pieces that got a prefix space
  for (const PreTokenizerStep& step : steps) {
    next.clear();
    for (std::string_view piece : pieces) {
      if (step.is_byte_level && step.add_prefix_space && piece.front() != ' ') {
        std::string& prefixed = owned.emplace_back(1, ' ');
        prefixed.append(piece);
        piece = owned.back();
      }
      if (step.splitter) {
        step.splitter->split(piece, next);
      } else {
        next.push_back(piece);
      }
    }
    pieces.swap(next);
  }
  for (std::string_view piece : pieces)
    model.encode_word(piece, out);
}

void Tokenizer::Impl::encode_normalized(std::string_view valid, bool parse_special,
                                        std::vector<int32_t>& out) const {
  if (normalizer.empty() && !(parse_special && matcher.has_normalized_tokens())) {
    encode_valid(valid, out);
    return;
  }
  const std::string normalized = normalizer.empty() ? std::string(valid) : normalizer.apply(valid);
  if (!parse_special || !matcher.has_normalized_tokens()) {
    encode_valid(normalized, out);
    return;
  }
  std::vector<Segment> segments;
  matcher.split_normalized(normalized, segments);
  for (const Segment& segment : segments) {
    if (segment.added_id >= 0) {
      out.push_back(segment.added_id);
    } else {
      encode_valid(segment.text, out);
    }
  }
}

void Tokenizer::Impl::encode_plain(std::string_view text, bool parse_special,
                                   std::vector<int32_t>& out) const {
  size_t pos = 0;
  for (;;) {
    const size_t bad = find_invalid_utf8(text, pos);
    if (bad > pos) encode_normalized(text.substr(pos, bad - pos), parse_special, out);
    if (bad == text.size()) return;
    // Each invalid byte is its own byte-level token (README: invalid UTF-8).
    if (auto id = model.token_to_id(text.substr(bad, 1))) out.push_back(*id);
    pos = bad + 1;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens,
                                       bool parse_special) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids = impl_->prefix_ids;
  if (parse_special && !impl_->matcher.empty()) {
    // As Hugging Face: raw-text added tokens first, then normalization, then normalized ones.
    std::vector<Segment> segments;
    impl_->matcher.split_raw(text, segments);
    for (const Segment& segment : segments) {
      if (segment.added_id >= 0) {
        ids.push_back(segment.added_id);
      } else {
        impl_->encode_plain(segment.text, true, ids);
      }
    }
  } else {
    impl_->encode_plain(text, false, ids);
  }
  if (add_special_tokens) ids.insert(ids.end(), impl_->suffix_ids.begin(), impl_->suffix_ids.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  std::string chunk;  // bytes of consecutive model tokens, decoded lossily as one run
  for (int32_t id : ids) {
    if (const AddedToken* added = impl_->find_added(id)) {
      if (skip_special_tokens && added->special) continue;
      append_lossy(chunk, out);
      chunk.clear();
      out += added->content;
    } else if (const std::string* bytes = impl_->model.id_to_bytes(id)) {
      chunk += *bytes;
    }
  }
  append_lossy(chunk, out);
  return out;
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  for (int32_t id : ids) {
    if (const AddedToken* added = impl_->find_added(id)) {
      if (!(skip_special_tokens && added->special)) out += added->content;
    } else if (const std::string* bytes = impl_->model.id_to_bytes(id)) {
      out += *bytes;
    }
  }
  return out;
}

std::optional<std::string> Tokenizer::token_bytes(int32_t id) const {
  if (const AddedToken* added = impl_->find_added(id)) return added->content;
  if (const std::string* bytes = impl_->model.id_to_bytes(id)) return *bytes;
  return std::nullopt;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = impl_->added_by_content.find(std::string(token));
  if (it != impl_->added_by_content.end()) return it->second;
  if (auto bytes = byte_level_to_bytes(token)) return impl_->model.token_to_id(*bytes);
  return impl_->model.token_to_id(token);
}

bool Tokenizer::is_added(int32_t id) const {
  return impl_->find_added(id) != nullptr;
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* added = impl_->find_added(id);
  return added != nullptr && added->special;
}

int32_t Tokenizer::vocab_size() const {
  int32_t max_id = impl_->model.max_id();
  for (const AddedToken& token : impl_->added)
    max_id = std::max(max_id, token.id);
  return max_id + 1;
}

std::vector<AddedToken> Tokenizer::added_tokens() const {
  return impl_->added;
}

}  // namespace mm::text
