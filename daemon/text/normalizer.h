// Hugging Face tokenizer normalizers that mmd supports: NFC, NFD, NFKC, NFKD (ICU), alone or in a
// Sequence. Thread-safe after construction: apply() only reads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mm::text {

class Normalizer {
 public:
  enum class Form { kNfc, kNfd, kNfkc, kNfkd };

  // Appends one step; `where` names the JSON field in errors (ICU unavailable).
  void add(Form form, std::string_view where);
  bool empty() const { return forms_.empty(); }
  // Normalizes valid UTF-8 text through every step in order.
  std::string apply(std::string_view text) const;

 private:
  std::vector<const void*> steps_;  // icu::Normalizer2 instances (owned by ICU)
  std::vector<Form> forms_;
};

}  // namespace mm::text
