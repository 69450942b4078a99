#include "daemon/text/tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/text/added_tokens.h"
#include "daemon/text/error.h"
#include "tests/unit/text/fixtures.h"

namespace mm::text {
namespace {

using testing::fixture_path;
using testing::read_fixture;

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

class HfParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    corpus_ = nlohmann::json::parse(read_fixture("tokenizer_corpus.json"));
    expected_ = nlohmann::json::parse(read_fixture("tokenizer_expected.json"))[GetParam()];
  }
  Tokenizer load() const {
    return Tokenizer::from_file(fixture_path(GetParam() + ".tokenizer.json"));
  }
  nlohmann::json corpus_;
  nlohmann::json expected_;
};

TEST_P(HfParity, EncodeMatchesHuggingFaceOnCorpus) {
  const Tokenizer tok = load();
  const auto& texts = corpus_["valid"];
  ASSERT_EQ(texts.size(), expected_["valid"].size());
  ASSERT_GT(texts.size(), 50u);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i];
    const auto want = expected_["valid"][i]["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text), want) << "corpus entry " << i << ": " << text;
  }
}

// Long runs where the split regex backtracks (needs the grown PCRE2 JIT stack).
TEST_P(HfParity, LongRunsMatchHuggingFace) {
  const Tokenizer tok = load();
  const auto& texts = corpus_["long"];
  ASSERT_EQ(texts.size(), expected_["long"].size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(tok.encode(texts[i].get<std::string>()),
              expected_["long"][i]["ids"].get<std::vector<int32_t>>())
        << "long entry " << i;
  }
}

TEST_P(HfParity, DecodeMatchesHuggingFaceOnCorpus) {
  const Tokenizer tok = load();
  for (const auto& entry : expected_["valid"]) {
    const auto ids = entry["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(ids), entry["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), entry["decoded_skip_special"].get<std::string>());
  }
}

TEST_P(HfParity, DecodeOfArbitraryIdsMatchesHuggingFace) {
  const Tokenizer tok = load();
  ASSERT_FALSE(expected_["decode_only"].empty());
  for (const auto& entry : expected_["decode_only"]) {
    const auto ids = entry["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(ids), entry["decoded"].get<std::string>()) << entry["ids"].dump();
    EXPECT_EQ(tok.decode(ids, true), entry["decoded_skip_special"].get<std::string>())
        << entry["ids"].dump();
  }
}

TEST_P(HfParity, InvalidUtf8IsCutAtEachBadByte) {
  const Tokenizer tok = load();
  const auto& cases = corpus_["invalid_hex"];
  ASSERT_EQ(cases.size(), expected_["invalid"].size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string bytes = from_hex(cases[i]);
    const auto ids = tok.encode(bytes);
    EXPECT_EQ(ids, expected_["invalid"][i]["ids"].get<std::vector<int32_t>>())
        << "invalid case " << i;
    EXPECT_EQ(tok.decode(ids), expected_["invalid"][i]["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode_bytes(ids), bytes) << "bytes must round-trip, case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, HfParity,
                         ::testing::Values("minimax_test", "gpt2_test", "nfkc_test"));

TEST(Tokenizer, MiniMaxAddedTokensHaveSpecIdsFromFile) {
  const Tokenizer tok = Tokenizer::from_file(fixture_path("minimax_test.tokenizer.json"));
  EXPECT_EQ(tok.token_to_id("]~!b["), 200034);
  EXPECT_EQ(tok.token_to_id("]~b]"), 200019);
  EXPECT_EQ(tok.token_to_id("[e~["), 200020);
  EXPECT_EQ(tok.token_to_id("<think>"), 200050);
  EXPECT_EQ(tok.token_to_id("</minimax:tool_call>"), 200053);
  EXPECT_TRUE(tok.is_special(200020));
  EXPECT_FALSE(
      tok.is_special(200050));  // the test tokenizer marks the reasoning/tool markers non-special
  EXPECT_TRUE(tok.is_added(200050));
  EXPECT_EQ(tok.vocab_size(), 200054);
  EXPECT_EQ(tok.token_bytes(200051), "</think>");
}

TEST(Tokenizer, RenderedPromptHasExactlyOneBos) {
  const Tokenizer tok = Tokenizer::from_file(fixture_path("minimax_test.tokenizer.json"));
  const auto ids = tok.encode(
      "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]user\nhi[e~[\n]~b]ai\n<think>\n");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 200034), 1);
  EXPECT_EQ(ids.front(), 200034);
  EXPECT_EQ(ids[1], 200019);
}

TEST(Tokenizer, ParseSpecialOffEncodesMarkersAsText) {
  const Tokenizer tok = Tokenizer::from_file(fixture_path("minimax_test.tokenizer.json"));
  const auto ids = tok.encode("<think>", false, false);
  EXPECT_GT(ids.size(), 1u);
  for (int32_t id : ids)
    EXPECT_LT(id, 200000);
  EXPECT_EQ(tok.decode(ids), "<think>");
}

TEST(Tokenizer, EveryByteStringRoundTrips) {
  const Tokenizer tok = Tokenizer::from_file(fixture_path("gpt2_test.tokenizer.json"));
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  EXPECT_EQ(tok.decode_bytes(tok.encode(all)), all);
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(Tokenizer, LongRunsStayLinear) {
  const Tokenizer tok = Tokenizer::from_file(fixture_path("minimax_test.tokenizer.json"));
  const std::string long_word(200000, 'x');
  const auto ids = tok.encode(long_word);
  EXPECT_EQ(tok.decode(ids), long_word);
}

TEST(TokenizerLoad, ErrorsNameTheField) {
  auto expect_error = [](const std::string& json, const std::string& needle) {
    try {
      Tokenizer::from_json(json, "t.json");
      ADD_FAILURE() << "no error for " << json;
    } catch (const TextError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{", "t.json: (document): invalid JSON");
  expect_error("{}", "t.json: model: missing");
  expect_error(R"({"model":{"type":"WordPiece"}})", "model.type");
  expect_error(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}})", "model.merges[0]");
  expect_error(R"({"model":{"type":"BPE","vocab":{"a":0,"b":0},"merges":[]}})", "used twice");
  expect_error(
      R"({"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(("},"behavior":"Isolated"}})",
      "pre_tokenizer.pattern");
  expect_error(
      R"({"model":{"type":"BPE","vocab":{},"merges":[]},"normalizer":{"type":"Lowercase"}})",
      "t.json: normalizer.type: unsupported normalizer 'Lowercase'");
  expect_error(
      R"({"model":{"type":"BPE","vocab":{},"merges":[]},"added_tokens":[{"content":"x"}]})",
      "added_tokens[0]");
  expect_error(R"({"model":{"type":"BPE","vocab":{"a":333333333},"merges":[]}})",
               "not a token id in 0..16777215");
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/tokenizer.json"), TextError);
}

TEST(TokenizerLoad, TemplateProcessingAddsBos) {
  const std::string json = R"({"model":{"type":"BPE","vocab":{"a":0,"<s>":1},"merges":[]},
    "added_tokens":[{"id":1,"content":"<s>","special":true}],
    "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},
      {"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}}})";
  const Tokenizer tok = Tokenizer::from_json(json, "inline");
  EXPECT_EQ(tok.encode("aa", true), (std::vector<int32_t>{1, 0, 0}));
  EXPECT_EQ(tok.encode("aa", false), (std::vector<int32_t>{0, 0}));
}

TEST(AddedTokens, LeftmostLongestAndStripFlags) {
  AddedTokenMatcher matcher;
  matcher.add({.id = 1, .content = "<a>", .special = true});
  matcher.add({.id = 2, .content = "<a><b>", .special = true});
  matcher.add({.id = 3, .content = "X", .special = true, .lstrip = true, .rstrip = true});
  matcher.add({.id = 4, .content = "w", .special = true, .single_word = true});
  std::vector<Segment> out;
  matcher.split("q<a><b><a>  X  w ww", out);
  std::vector<std::pair<std::string, int>> got;
  for (const auto& s : out)
    got.emplace_back(std::string(s.text), s.added_id);
  const std::vector<std::pair<std::string, int>> want = {{"q", -1},    {"<a><b>", 2}, {"<a>", 1},
                                                         {"  X  ", 3}, {"w", 4},      {" ww", -1}};
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace mm::text
