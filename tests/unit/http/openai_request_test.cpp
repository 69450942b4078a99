// OpenAI request bodies: what they become, and the 4xx each mistake gets (naming the field).
#include "daemon/frontends/http/openai_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace mm::http {
namespace {

void expect_error(const std::string& body, int status, const std::string& needle,
                  bool chat = true) {
  try {
    chat ? parse_chat_request(body) : parse_completion_request(body);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << body;
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(OpenAiRequest, ChatFieldsBecomeMessagesAndSampling) {
  const GenerationRequest r = parse_chat_request(R"({
    "model": "m", "stream": true, "stream_options": {"include_usage": true},
    "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "reasoning_content": "r",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"}],
    "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0.5, "top_p": 0.9,
    "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "frequency_penalty": 0.2,
    "presence_penalty": -0.2, "seed": -1, "stop": "END", "logprobs": true, "top_logprobs": 2,
    "logit_bias": {"5": -100}, "user": "u", "parallel_tool_calls": true})");
  EXPECT_TRUE(r.chat);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  const std::vector<mm::text::ChatMessage>& messages = r.chat_request.messages;
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0].role, "system");  // developer is OpenAI's newer name for it
  // Text parts reach the template as parts (its visible_text joins them).
  ASSERT_TRUE(messages[1].content.is_array());
  EXPECT_EQ(messages[1].content.as_array().size(), 2u);
  EXPECT_EQ(messages[2].reasoning_content, "r");
  ASSERT_EQ(messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(messages[2].tool_calls[0].name, "f");
  EXPECT_EQ(messages[2].tool_calls[0].arguments.dump(), R"({"x": 1})");  // parsed once
  EXPECT_EQ(messages[3].tool_call_id, "c1");
  EXPECT_EQ(r.sampling.max_tokens, 7);  // max_completion_tokens wins
  EXPECT_FLOAT_EQ(*r.sampling.temperature, 0.5f);
  EXPECT_EQ(*r.sampling.top_k, 20);
  EXPECT_EQ(*r.sampling.seed, ~uint64_t{0});
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.sampling.logprobs, 2);
  ASSERT_EQ(r.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(r.sampling.logit_bias[0].first, 5);
  EXPECT_EQ(r.chat_request.tool_choice, mm::text::ToolChoice::kNone);
  EXPECT_EQ(r.ignored_fields, (std::vector<std::string>{"user"}));
}

TEST(OpenAiRequest, ToolKeysKeepTheClientsOrder) {
  // tojson in the template prints these: sorted keys would change the prompt (issue 21).
  const GenerationRequest r = parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}],
    "tools": [{"type": "function", "function": {"parameters": {"type": "object", "properties":
      {"zeta": {"type": "string"}, "alpha": {"type": "integer"}}, "required": ["zeta"]},
      "name": "f", "description": "d"}}]})");
  ASSERT_EQ(r.chat_request.tools.size(), 1u);
  EXPECT_EQ(r.chat_request.tools[0].find("function")->dump(),
            R"({"parameters": {"type": "object", "properties": {"zeta": {"type": "string"}, )"
            R"("alpha": {"type": "integer"}}, "required": ["zeta"]}, "name": "f", )"
            R"("description": "d"})");
}

TEST(OpenAiRequest, AgentHistoryShapesThatCrashedTheDaemonAre400s) {
  const std::string user = R"({"role": "user", "content": "x"})";
  expect_error(
      R"({"messages": [)" + user + R"(, {"role": "assistant", "tool_calls": {"id": "c"}}]})", 400,
      "'messages[1].tool_calls' must be an array of tool calls");
  expect_error(R"({"messages": [)" + user +
                   R"(, {"role": "assistant", "tool_calls": [{"function": {"name": "f",
                   "arguments": 5}}]}]})",
               400, "'messages[1].tool_calls[0].function.arguments' must be a JSON object");
  expect_error(R"({"messages": [)" + user + R"(], "chat_template_kwargs": {"tools": []}})", 400,
               "'chat_template_kwargs.tools' is set by the request itself");
  // Arguments as an object (as some frameworks send them) are taken as they are.
  const GenerationRequest r = parse_chat_request(
      R"({"messages": [)" + user +
      R"(, {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
      "function": {"name": "f", "arguments": {"b": [1, 2], "a": null}}}]}]})");
  EXPECT_EQ(r.chat_request.messages[1].tool_calls[0].arguments.dump(),
            R"({"b": [1, 2], "a": null})");
}

TEST(OpenAiRequest, ToolChoiceDefaultsToAutoWithTools) {
  const std::string tools = R"("tools": [{"type": "function", "function": {"name": "f"}}])";
  const std::string messages = R"("messages": [{"role": "user", "content": "x"}])";
  EXPECT_EQ(parse_chat_request("{" + messages + "," + tools + "}").chat_request.tool_choice,
            mm::text::ToolChoice::kAuto);
  const GenerationRequest named =
      parse_chat_request("{" + messages + "," + tools +
                         R"(, "tool_choice": {"type": "function", "function": {"name": "f"}}})");
  EXPECT_EQ(named.chat_request.tool_choice, mm::text::ToolChoice::kNamed);
  EXPECT_EQ(named.chat_request.tool_choice_name, "f");
  expect_error("{" + messages + "," + tools +
                   R"(, "tool_choice": {"type": "function", "function": {"name": "g"}}})",
               400, "'g' is not one of the request's tools");
  expect_error("{" + messages + R"(, "tool_choice": "required"})", 400, "needs \"tools\"");
}

TEST(OpenAiRequest, MistakesAre400NamingTheField) {
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  expect_error("{\"messages\": [}", 400, "not valid JSON (at byte 15)");
  expect_error("[]", 400, "must be a JSON object");
  expect_error("{}", 400, "'messages' is required");
  expect_error("{" + m + ", \"tempreature\": 1}", 400, "unknown field 'tempreature'");
  expect_error("{" + m + ", \"temperature\": \"hot\"}", 400, "'temperature' must be a number");
  // Ranges are mm::check_sampling_options's, shared by every frontend
  // (tests/unit/frontends); the reader checks types.
  EXPECT_EQ(*parse_chat_request("{" + m + ", \"temperature\": 3}").sampling.temperature, 3.0f);
  expect_error("{" + m + ", \"bad_words\": \"x\"}", 400, "'bad_words' must be an array");
  expect_error("{" + m + ", \"allowed_token_ids\": [1, -2]}", 400, "'allowed_token_ids[1]'");
  expect_error("{" + m + ", \"allowed_token_ids\": []}", 400, "must not be empty");
  expect_error("{" + m + ", \"truncate_prompt_tokens\": 1.5}", 400, "must be an integer");
  expect_error("{" + m + ", \"priority\": \"high\"}", 400, "'priority' must be an integer");
  expect_error("{" + m + ", \"max_tokens\": 1.5}", 400, "'max_tokens' must be an integer");
  expect_error("{" + m + ", \"n\": 2}", 400, "'n' must be 1");
  expect_error("{" + m + ", \"top_logprobs\": 2}", 400, "needs \"logprobs\": true");
  expect_error("{" + m + ", \"logprobs\": true, \"top_logprobs\": 21}", 400, "[0, 20]");
  expect_error("{" + m + ", \"stop\": [\"a\", 1]}", 400, "'stop'");
  expect_error("{" + m + ", \"stream_options\": {\"include_usage\": true}}", 400,
               "only allowed with \"stream\": true");
  expect_error(R"({"messages": [{"role": "wizard", "content": "x"}]})", 400,
               "'messages[0].role' 'wizard' is not one of");
  expect_error(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", 400,
               "'messages[0].content[0].type' 'image_url' is not supported");
  expect_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"function":
               {"name": "f", "arguments": "not json"}}]}]})",
               400, "'messages[0].tool_calls[0].function.arguments' is not valid JSON");
  expect_error("{" + m + ", \"seed\": 18446744073709551616}", 400, "'seed'");
}

TEST(OpenAiRequest, VllmFieldsAreRead) {
  for (const bool chat : {true, false}) {
    const std::string head =
        chat ? R"({"messages": [{"role": "user", "content": "x"}], )" : R"({"prompt": "x", )";
    const std::string body = head + R"("bad_words": ["cat", "big dog"],
        "allowed_token_ids": [3, 4, 5], "truncate_prompt_tokens": 12, "priority": -3,
        "skip_special_tokens": false, "include_stop_str_in_output": true})";
    const GenerationRequest r = chat ? parse_chat_request(body) : parse_completion_request(body);
    EXPECT_EQ(r.sampling.bad_words, (std::vector<std::string>{"cat", "big dog"}));
    EXPECT_EQ(r.sampling.allowed_token_ids, (std::vector<int32_t>{3, 4, 5}));
    EXPECT_EQ(r.sampling.truncate_prompt_tokens, 12);
    EXPECT_EQ(r.priority, -3);
    EXPECT_FALSE(r.skip_special_tokens);
    EXPECT_TRUE(r.include_stop_str_in_output);
  }
}

TEST(OpenAiRequest, CompletionPromptsTextOrTokenIds) {
  GenerationRequest r = parse_completion_request(R"({"prompt": "hi", "echo": true})");
  EXPECT_EQ(*r.prompt, "hi");
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.sampling.max_tokens, 16);  // OpenAI's completions default
  r = parse_completion_request(R"({"prompt": [[1, 2, 3]], "logprobs": 2, "max_tokens": 4})");
  EXPECT_EQ(r.prompt_token_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r.sampling.logprobs, 2);
  // Batches and echo with logprobs: openai_scoring_request_test.cpp.
  expect_error(R"({"prompt": [1, -2]})", 400, "'prompt[1]' must be a token id", false);
  expect_error(R"({"prompt": ""})", 400, "must not be empty", false);
  expect_error(R"({"prompt": "x", "suffix": "y"})", 400, "'suffix' is not supported", false);
}

TEST(OpenAiRequest, TokenizeAndDetokenize) {
  EXPECT_EQ(*parse_tokenize_request(R"({"prompt": "a"})").prompt, "a");
  EXPECT_EQ(parse_tokenize_request(R"({"messages": [{"role": "user", "content": "a"}]})")
                .chat->messages.size(),
            1u);
  EXPECT_EQ(parse_detokenize_request(R"({"tokens": [4, 5]})"), (std::vector<int32_t>{4, 5}));
  EXPECT_THROW(parse_tokenize_request("{}"), ApiError);
  EXPECT_THROW(parse_detokenize_request(R"({"tokens": "4"})"), ApiError);
}

TEST(OpenAiRequest, ErrorBodyHasVllmShape) {
  const auto body = nlohmann::json::parse(error_body(404, "no such model", "model"));
  EXPECT_EQ(body["error"]["message"], "no such model");
  EXPECT_EQ(body["error"]["type"], "NotFoundError");
  EXPECT_EQ(body["error"]["param"], "model");
  EXPECT_EQ(body["error"]["code"], 404);
  EXPECT_TRUE(nlohmann::json::parse(error_body(400, "x"))["error"]["param"].is_null());
}

}  // namespace
}  // namespace mm::http
