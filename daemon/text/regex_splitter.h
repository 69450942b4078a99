// Splits UTF-8 text with a Hugging Face tokenizers `Split` regex through PCRE2 (UTF + Unicode
// properties, JIT). Thread-safe after construction: `split` only reads the compiled pattern.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mm::text {

// What happens to regex matches (Hugging Face `SplitDelimiterBehavior`).
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext };

class RegexSplitter {
 public:
  // `pattern` uses the Rust `regex` crate syntax HF tokenizers accepts. `\s` and `\S` are rewritten
  // to Rust's White_Space set (PCRE2's `\s` also matches U+180E). Throws TextError naming `where`
  // and the PCRE2 error offset when the pattern does not compile.
  RegexSplitter(std::string_view pattern, SplitBehavior behavior, std::string_view where);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Appends the pieces of `text` (valid UTF-8) to `out`; empty pieces are never produced.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

  // Replaces `\s`/`\S` by explicit Rust White_Space classes (exposed for tests).
  static std::string translate_pattern(std::string_view pattern, std::string_view where);

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  SplitBehavior behavior_;
};

// The GPT-2 pre-tokenizer regex Hugging Face's ByteLevel pre-tokenizer uses when use_regex is true.
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace mm::text
