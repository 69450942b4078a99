#include "daemon/text/detokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/text/byte_level.h"
#include "daemon/text/utf8.h"
#include "tests/unit/text/fixtures.h"

namespace mm::text {
namespace {

using testing::fixture_path;
using testing::read_fixture;

const Tokenizer& minimax() {
  static const Tokenizer kTok = Tokenizer::from_file(fixture_path("minimax_test.tokenizer.json"));
  return kTok;
}

int32_t byte_id(unsigned char b) {
  return *minimax().token_to_id(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
}

std::vector<std::string> stream(const std::vector<int32_t>& ids, DetokenizerOptions options,
                                std::string* all = nullptr) {
  StreamingDetokenizer detok(minimax(), std::move(options));
  std::vector<std::string> chunks;
  for (int32_t id : ids)
    chunks.push_back(detok.push(id));
  chunks.push_back(detok.finish());
  if (all) {
    all->clear();
    for (const auto& c : chunks)
      *all += c;
  }
  return chunks;
}

TEST(Detokenizer, StreamEqualsDecodeOnCorpusAndChunksAreValidUtf8) {
  const auto corpus = nlohmann::json::parse(read_fixture("tokenizer_corpus.json"));
  for (bool skip : {false, true}) {
    for (const auto& text : corpus["valid"]) {
      const auto ids = minimax().encode(text.get<std::string>());
      std::string all;
      for (const auto& chunk : stream(ids, {.skip_special_tokens = skip}, &all)) {
        EXPECT_TRUE(is_valid_utf8(chunk));
      }
      EXPECT_EQ(all, minimax().decode(ids, skip)) << text;
    }
  }
}

TEST(Detokenizer, HoldsBytesOfACharacterSplitAcrossTokens) {
  // U+4E2D is E4 B8 AD: three single-byte tokens.
  StreamingDetokenizer detok(minimax(), {});
  EXPECT_EQ(detok.push(byte_id(0xE4)), "");
  EXPECT_EQ(detok.push(byte_id(0xB8)), "");
  EXPECT_EQ(detok.push(byte_id(0xAD)), "\xE4\xB8\xAD");
  EXPECT_EQ(detok.finish(), "");
}

TEST(Detokenizer, InvalidAndTruncatedBytesBecomeReplacementChars) {
  std::string all;
  stream({byte_id(0xB8), byte_id('A'), byte_id(0xF0)}, {}, &all);
  EXPECT_EQ(all,
            "\xEF\xBF\xBD"
            "A"
            "\xEF\xBF\xBD");
  // An added token ends the byte run, as Hugging Face decode does.
  stream({byte_id(0xE4), 200050, byte_id(0xB8), byte_id(0xAD)}, {}, &all);
  EXPECT_EQ(all, minimax().decode(
                     std::vector<int32_t>{byte_id(0xE4), 200050, byte_id(0xB8), byte_id(0xAD)}));
}

TEST(Detokenizer, StopStringStraddlingTokensIsFoundAndNothingFollows) {
  const auto ids = minimax().encode("Hello world, the quick brown fox");
  ASSERT_GT(ids.size(), 4u);
  DetokenizerOptions options{.stop_strings = {"lo wor"}};
  StreamingDetokenizer detok(minimax(), options);
  std::string all;
  for (int32_t id : ids)
    all += detok.push(id);
  all += detok.finish();
  EXPECT_EQ(all, "Hel");
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.matched_stop(), 0u);
  EXPECT_EQ(detok.push(ids[0]), "");
}

TEST(Detokenizer, StopStringKeptWhenAskedAndEarliestWins) {
  const auto ids = minimax().encode("abc STOP def END");
  std::string all;
  stream(ids, {.stop_strings = {"END", "STOP"}, .include_stop_string = true}, &all);
  EXPECT_EQ(all, "abc STOP");
}

TEST(Detokenizer, PartialStopPrefixIsReleasedAtFinish) {
  const auto ids = minimax().encode("answer: x</th");
  std::string all;
  stream(ids, {.stop_strings = {"</think>"}}, &all);
  EXPECT_EQ(all, "answer: x</th");
}

TEST(Detokenizer, StopOnSpecialTokenTextAndSkipSpecial) {
  const std::vector<int32_t> ids = minimax().encode("done[e~[ignored");
  std::string all;
  stream(ids, {.stop_strings = {"[e~["}}, &all);
  EXPECT_EQ(all, "done");
  stream(ids, {.skip_special_tokens = true}, &all);
  EXPECT_EQ(all, "doneignored");
}

TEST(Detokenizer, StopStringInsideMultibyteText) {
  const auto ids = minimax().encode("机器学习是人工智能的一个分支");
  std::string all;
  stream(ids, {.stop_strings = {"智能"}}, &all);
  EXPECT_EQ(all, "机器学习是人工");
}

}  // namespace
}  // namespace mm::text
