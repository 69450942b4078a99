// The scoring fields of /v1/completions and chat (openai_request.cpp) and the logprobs JSON they
// are answered with (completion_logprobs.cpp): batches of prompts, echo with logprobs, max_tokens
// 0, prompt_logprobs, return_tokens_as_token_ids, and top_logprobs keys shared by several ids.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/frontends/http/completion_logprobs.h"
#include "daemon/frontends/http/openai_request.h"

namespace mm::http {
namespace {

using nlohmann::json;

std::string error_of(const std::string& body, bool chat = false) {
  try {
    chat ? parse_chat_request(body) : parse_completion_request(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return std::string(e.what()) + " [param " + e.param() + "]";
  }
  ADD_FAILURE() << "accepted: " << body;
  return {};
}

TEST(ScoringRequest, BatchesOfStringsOrTokenLists) {
  GenerationRequest r = parse_completion_request(R"({"prompt": ["a", "bc", "d"]})");
  ASSERT_EQ(r.prompts.size(), 3u);
  EXPECT_EQ(*r.prompts[1].text, "bc");
  EXPECT_EQ(*r.prompt, "a");
  r = parse_completion_request(R"({"prompt": [[1, 2], [3]]})");
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1].token_ids, (std::vector<int32_t>{3}));
  EXPECT_FALSE(r.prompts[0].text.has_value());
  r = parse_completion_request(R"({"prompt": [5, 6, 7]})");  // one token-id prompt
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompt_token_ids, (std::vector<int32_t>{5, 6, 7}));

  EXPECT_NE(error_of(R"({"prompt": ["a", [1]]})").find("'prompt[1]' must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": [[1], "a"]})").find("'prompt[1]' must be an array"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": ["a", ""]})").find("'prompt[1]' must not be empty"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": [[1], []]})").find("'prompt[1]' must be a non-empty"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": [[1], [2, -1]]})").find("'prompt[1][1]' must be a token id"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": ["a", "b"], "stream": true})").find("batch"), std::string::npos);
  std::string many = R"({"prompt": [)";
  for (int i = 0; i < 1025; ++i)
    many += std::string(i ? "," : "") + "\"x\"";
  EXPECT_NE(error_of(many + "]}").find("at most 1024"), std::string::npos);
}

TEST(ScoringRequest, EchoLogprobsAndMaxTokensZero) {
  // lm-eval's loglikelihood request: echo, logprobs 1, max_tokens 1.
  GenerationRequest r = parse_completion_request(
      R"({"prompt": [[1, 2, 3]], "echo": true, "logprobs": 1, "max_tokens": 1})");
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.prompt_logprobs, 1);  // echo scores the prompt with logprobs' n (vLLM)
  EXPECT_FALSE(r.echo_only);
  EXPECT_EQ(r.sampling.max_tokens, 1);

  r = parse_completion_request(R"({"prompt": "x", "echo": true, "max_tokens": 0, "logprobs": 3})");
  EXPECT_TRUE(r.echo_only);
  EXPECT_FALSE(r.sampling.max_tokens.has_value());  // run as 0 by the frontend
  EXPECT_EQ(r.prompt_logprobs, 3);

  r = parse_completion_request(R"({"prompt": "x", "echo": true, "max_tokens": 0})");
  EXPECT_TRUE(r.echo_only);
  EXPECT_EQ(r.prompt_logprobs, -1);  // no logprobs asked: none shown

  // Without echo, max_tokens 0 is left to the shared range check (a 400 naming max_tokens).
  r = parse_completion_request(R"({"prompt": "x", "max_tokens": 0})");
  EXPECT_FALSE(r.echo_only);
  EXPECT_EQ(r.sampling.max_tokens, 0);

  // An explicit prompt_logprobs wins over echo's.
  r = parse_completion_request(R"({"prompt": "x", "echo": true, "logprobs": 1,
                                   "prompt_logprobs": 4, "return_tokens_as_token_ids": true})");
  EXPECT_EQ(r.prompt_logprobs, 4);
  EXPECT_TRUE(r.return_tokens_as_token_ids);
  EXPECT_NE(error_of(R"({"prompt": "x", "prompt_logprobs": 21})").find("'prompt_logprobs' must be"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": "x", "prompt_logprobs": 1, "stream": true})")
                .find("not available with \"stream\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": "x", "return_tokens_as_token_ids": 1})").find("boolean"),
            std::string::npos);
}

TEST(ScoringRequest, ChatTakesPromptLogprobs) {
  const GenerationRequest r = parse_chat_request(
      R"({"messages": [{"role": "user", "content": "hi"}], "prompt_logprobs": 2,
          "return_tokens_as_token_ids": true})");
  EXPECT_EQ(r.prompt_logprobs, 2);
  EXPECT_TRUE(r.return_tokens_as_token_ids);
  EXPECT_NE(
      error_of(R"({"messages": [{"role": "user", "content": "hi"}], "prompt_logprobs": -1})", true)
          .find("'prompt_logprobs'"),
      std::string::npos);
}

// Ids 10 and 11 share the text "\uFFFD" (two bytes of one split character); 12 is "a".
std::string text_of(int32_t id) {
  return id == 12 ? "a" : id == 13 ? "bb" : "\xEF\xBF\xBD";
}

TEST(CompletionLogprobs, EchoedPromptLeadsWithANullFirstToken) {
  const std::vector<int32_t> prompt = {13, 12, 10};
  const std::vector<ScoredToken> scores = {
      {12, -0.5f, 1, {{12, -0.5f}, {13, -1.5f}}},
      {10, -3.0f, 3, {{12, -0.2f}, {11, -2.0f}}},
  };
  CompletionLogprobs lp;
  lp.add_prompt(prompt, scores, text_of);
  SampleResult generated;
  generated.token_id = 13;
  generated.logprob = TokenLogprob{13, -0.25f};
  generated.top_logprobs = {{13, -0.25f}};
  lp.add_generated(std::span(&generated, 1), text_of);
  const json j = lp.to_json();
  EXPECT_EQ(j["tokens"], json({"bb", "a", "\xEF\xBF\xBD", "bb"}));
  EXPECT_TRUE(j["token_logprobs"][0].is_null());
  EXPECT_TRUE(j["top_logprobs"][0].is_null());
  EXPECT_DOUBLE_EQ(j["token_logprobs"][1].get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(j["token_logprobs"][2].get<double>(), -3.0);
  EXPECT_DOUBLE_EQ(j["token_logprobs"][3].get<double>(), -0.25);
  // Byte offsets of each label in the concatenated text.
  EXPECT_EQ(j["text_offset"], json({0, 2, 3, 6}));
  EXPECT_EQ(lp.text_offset(), 8u);
  // The prompt token's own entry is there beside its top n.
  EXPECT_EQ(j["top_logprobs"][1].size(), 2u);
  EXPECT_DOUBLE_EQ(j["top_logprobs"][1]["bb"].get<double>(), -1.5);
}

TEST(CompletionLogprobs, ASharedTextKeyKeepsTheMostProbableId) {
  // Position 2 scores id 10 (-3.0) and lists id 11 (-2.0): both read "\uFFFD". The key holds
  // the larger, whichever came first.
  const std::vector<int32_t> prompt = {13, 12, 10};
  const std::vector<ScoredToken> scores = {
      {12, -0.5f, 1, {}},
      {10, -3.0f, 3, {{12, -0.2f}, {11, -2.0f}}},
  };
  CompletionLogprobs lp;
  lp.add_prompt(prompt, scores, text_of);
  const json top = lp.to_json()["top_logprobs"][2];
  EXPECT_EQ(top.size(), 2u);
  EXPECT_DOUBLE_EQ(top["\xEF\xBF\xBD"].get<double>(), -2.0);
  // Generated tokens: the more probable alternative listed first keeps its value too.
  SampleResult g;
  g.token_id = 11;
  g.logprob = TokenLogprob{11, -1.0f};
  g.top_logprobs = {{10, -0.7f}, {11, -1.0f}};
  CompletionLogprobs lg;
  lg.add_generated(std::span(&g, 1), text_of);
  EXPECT_FLOAT_EQ(lg.to_json()["top_logprobs"][0]["\xEF\xBF\xBD"].get<float>(), -0.7f);
  // With token-id labels nothing is shared.
  const auto as_ids = [](int32_t id) { return "token_id:" + std::to_string(id); };
  CompletionLogprobs li;
  li.add_prompt(prompt, scores, as_ids);
  const json ids = li.to_json();
  EXPECT_EQ(ids["tokens"], json({"token_id:13", "token_id:12", "token_id:10"}));
  EXPECT_EQ(ids["top_logprobs"][2].size(), 3u);
  EXPECT_DOUBLE_EQ(ids["top_logprobs"][2]["token_id:10"].get<double>(), -3.0);
  EXPECT_DOUBLE_EQ(ids["top_logprobs"][2]["token_id:11"].get<double>(), -2.0);
}

TEST(CompletionLogprobs, VllmPromptLogprobsListKeysIdsWithRanks) {
  const std::vector<int32_t> prompt = {13, 12, 10};
  const std::vector<ScoredToken> scores = {
      {12, -0.5f, 1, {{12, -0.5f}}},
      {10, -3.0f, 3, {{12, -0.2f}, {11, -2.0f}}},
  };
  const json j = prompt_logprobs_json(prompt, scores, text_of);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_TRUE(j[0].is_null());
  EXPECT_EQ(j[1].size(), 1u);  // the prompt token is its own top 1
  EXPECT_EQ(j[1]["12"]["rank"], 1);
  EXPECT_EQ(j[1]["12"]["decoded_token"], "a");
  EXPECT_EQ(j[2].size(), 3u);
  EXPECT_EQ(j[2]["10"]["rank"], 3);
  EXPECT_DOUBLE_EQ(j[2]["10"]["logprob"].get<double>(), -3.0);
  EXPECT_EQ(j[2]["11"]["rank"], 2);
  EXPECT_EQ(j[2]["12"]["rank"], 1);
  // -inf is sent as -9999 (JSON has no infinity).
  const std::vector<ScoredToken> impossible = {
      {12, -std::numeric_limits<float>::infinity(), 2048, {}}};
  const json k = prompt_logprobs_json(std::vector<int32_t>{13, 12}, impossible, text_of);
  EXPECT_DOUBLE_EQ(k[1]["12"]["logprob"].get<double>(), -9999.0);
}

}  // namespace
}  // namespace mm::http
