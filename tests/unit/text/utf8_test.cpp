#include "daemon/text/utf8.h"

#include <gtest/gtest.h>

#include "daemon/text/byte_level.h"
#include "daemon/text/regex_splitter.h"

namespace mm::text {
namespace {

std::string lossy(std::string_view bytes) {
  std::string out;
  append_lossy(bytes, out);
  return out;
}

TEST(Utf8, LossyReplacesMaximalSubparts) {
  const std::string r(kReplacementChar);
  EXPECT_EQ(lossy("abc"), "abc");
  EXPECT_EQ(lossy("\xE4\xB8\xAD"), "\xE4\xB8\xAD");
  EXPECT_EQ(lossy("\xE4\xB8"), r);  // truncated: one U+FFFD
  EXPECT_EQ(lossy("\xE4\xB8x"), r + "x");
  EXPECT_EQ(lossy("\xB8\xAD"), r + r);          // lone continuation bytes: one each
  EXPECT_EQ(lossy("\xED\xA0\x80"), r + r + r);  // surrogate: ED then A0 is not allowed
  EXPECT_EQ(lossy("\xF0\x9F\x98"), r);
  EXPECT_EQ(lossy("\xC0\xAF"), r + r);  // overlong lead
  EXPECT_EQ(lossy("\xF4\x90\x80\x80"), r + r + r + r);
}

TEST(Utf8, IncompleteTail) {
  EXPECT_EQ(incomplete_tail_length("ab\xE4\xB8"), 2u);
  EXPECT_EQ(incomplete_tail_length("ab\xE4\xB8\xAD"), 0u);
  EXPECT_EQ(incomplete_tail_length("\xF0"), 1u);
  EXPECT_EQ(incomplete_tail_length("\xFF"), 0u);
  EXPECT_EQ(incomplete_tail_length("\xF0\x9F\x98"), 3u);
}

TEST(ByteLevel, AlphabetMatchesGpt2) {
  EXPECT_EQ(byte_to_char(' '), U'\u0120');   // 'Ġ'
  EXPECT_EQ(byte_to_char('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(byte_to_char('A'), U'A');
  EXPECT_EQ(byte_to_char(0xAD), U'\u0143');
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(char_to_byte(byte_to_char(static_cast<unsigned char>(b))), b);
  EXPECT_EQ(byte_level_to_bytes("\xC4\xA0hi"), " hi");
  EXPECT_FALSE(byte_level_to_bytes("\xE4\xB8\xAD").has_value());
}

TEST(RegexSplitter, WhitespaceLookaheadAndRustWhiteSpace) {
  RegexSplitter splitter(kGpt2SplitPattern, SplitBehavior::kIsolated, "test");
  std::vector<std::string_view> out;
  splitter.split("a   b\xE1\xA0\x8E", out);  // U+180E is not White_Space in Rust
  const std::vector<std::string_view> want = {"a", "  ", " b", "\xE1\xA0\x8E"};
  EXPECT_EQ(out, want);
  EXPECT_EQ(RegexSplitter::translate_pattern("[^\\s]", "t").find("\\s"), std::string::npos);
}

}  // namespace
}  // namespace mm::text
