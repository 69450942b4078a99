// Added tokens (Hugging Face `added_tokens`): strings matched whole in the input before
// pre-tokenization, never split. Thread-safe after construction: `split` only reads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mm::text {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// One piece of input: plain text to pre-tokenize, or an added token (`added_id` >= 0).
struct Segment {
  std::string_view text;
  int32_t added_id = -1;
};

class AddedTokenMatcher {
 public:
  void add(const AddedToken& token);

  // Splits `text` into plain and added-token segments. As Hugging Face: tokens with
  // normalized=false are matched first, then tokens with normalized=true inside the remaining plain
  // text (mmd supports no normalizer, so both see the same text); each pass takes leftmost-longest,
  // non-overlapping matches. lstrip/rstrip swallow neighbouring whitespace; single_word needs
  // non-word neighbours (word characters: ASCII letters, digits, '_' and any non-ASCII byte).
  void split(std::string_view text, std::vector<Segment>& out) const;
  // The two passes alone, for tokenizers with a normalizer: raw-text tokens on the input, then
  // normalized tokens on each normalized plain segment.
  void split_raw(std::string_view text, std::vector<Segment>& out) const {
    split_pass(raw_pass_, text, out);
  }
  void split_normalized(std::string_view text, std::vector<Segment>& out) const {
    split_pass(normalized_pass_, text, out);
  }
  bool has_normalized_tokens() const { return normalized_pass_.any; }

  bool empty() const { return tokens_.empty(); }

 private:
  struct Pass {
    std::vector<int> by_first_byte[256];
    bool any = false;
  };
  void split_pass(const Pass& pass, std::string_view text, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  Pass raw_pass_;
  Pass normalized_pass_;
};

}  // namespace mm::text
