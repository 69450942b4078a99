// Anthropic's Messages API: what a body becomes (the native ChatRequest), the 400 each mistake
// gets (naming the field path), and the answer's blocks and events.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/frontends/http/anthropic_request.h"
#include "daemon/frontends/http/anthropic_response.h"

namespace mm::http {
namespace {

using nlohmann::json;

void expect_error(const std::string& body, const std::string& needle,
                  const std::string& param = {}) {
  try {
    parse_messages_request(body);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    if (!param.empty()) {
      EXPECT_EQ(e.param(), param) << e.what();
    }
  }
}

TEST(AnthropicRequest, BlocksBecomeNativeMessages) {
  const GenerationRequest r = parse_messages_request(R"({
    "model": "m", "max_tokens": 64, "stream": true, "temperature": 0.5, "top_p": 0.9,
    "top_k": 20, "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2; cch=1f;"},
               {"type": "text", "text": "You are an agent.", "cache_control": {"type": "ephemeral"}},
               {"type": "text", "text": " Be brief."}],
    "tools": [{"name": "get_weather", "description": "Weather.",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
               "cache_control": {"type": "ephemeral"}},
              {"name": "calc", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"},
    "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "I should call the tool.", "signature": "mmd1.x"},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "t2", "name": "calc", "input": {}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "t2", "is_error": true,
         "content": [{"type": "text", "text": "bad"}, {"type": "text", "text": "input"}]},
        {"type": "text", "text": "Thanks", "cache_control": {"type": "ephemeral"}}]}]})");
  EXPECT_TRUE(r.chat);
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.sampling.max_tokens, 64);
  EXPECT_FLOAT_EQ(*r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*r.sampling.top_p, 0.9f);
  EXPECT_EQ(*r.sampling.top_k, 20);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.ignored_fields, (std::vector<std::string>{"metadata", "thinking"}));
  const auto& m = r.chat_request.messages;
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[0].role, "system");
  // The billing line is dropped; the other blocks stay parts, joined by the template.
  ASSERT_TRUE(m[0].content.is_array());
  ASSERT_EQ(m[0].content.as_array().size(), 2u);
  EXPECT_EQ(m[0].content.as_array()[0].find("text")->as_string(), "You are an agent.");
  EXPECT_EQ(m[1].role, "user");
  EXPECT_EQ(m[1].content.as_string(), "Weather in Paris?");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].reasoning_content, "I should call the tool.");
  EXPECT_EQ(m[2].content.as_string(), "Let me check.");
  ASSERT_EQ(m[2].tool_calls.size(), 2u);
  EXPECT_EQ(m[2].tool_calls[0].id, "t1");
  EXPECT_EQ(m[2].tool_calls[0].name, "get_weather");
  EXPECT_EQ(m[2].tool_calls[0].arguments.dump(), R"({"city": "Paris"})");
  EXPECT_EQ(m[3].role, "tool");
  EXPECT_EQ(m[3].tool_call_id, "t1");
  EXPECT_EQ(m[3].content.as_string(), "sunny");
  EXPECT_EQ(m[4].tool_call_id, "t2");
  EXPECT_EQ(m[4].content.as_string(), "Error: bad\ninput");
  EXPECT_EQ(m[5].role, "user");
  const auto& tools = r.chat_request.tools;
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0].dump(),
            R"({"type": "function", "function": {"name": "get_weather", "description": )"
            R"("Weather.", "parameters": {"type": "object", "properties": {"city": )"
            R"({"type": "string"}}}}})");
  EXPECT_EQ(r.chat_request.tool_choice, text::ToolChoice::kRequired);
  EXPECT_TRUE(r.chat_request.add_generation_prompt);
}

TEST(AnthropicRequest, ToolChoiceAndPrefill) {
  const std::string tools = R"("tools": [{"name": "f", "input_schema": {"type": "object"}}])";
  const auto with = [&](const std::string& extra) {
    return parse_messages_request(R"({"model": "m", "max_tokens": 5, )" + tools + extra +
                                  R"(, "messages": [{"role": "user", "content": "hi"}]})")
        .chat_request;
  };
  EXPECT_EQ(with("").tool_choice, text::ToolChoice::kAuto);
  EXPECT_EQ(with(R"(, "tool_choice": {"type": "none"})").tool_choice, text::ToolChoice::kNone);
  const text::ChatRequest named = with(R"(, "tool_choice": {"type": "tool", "name": "f"})");
  EXPECT_EQ(named.tool_choice, text::ToolChoice::kNamed);
  EXPECT_EQ(named.tool_choice_name, "f");
  const GenerationRequest prefill = parse_messages_request(
      R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"},
          {"role": "assistant", "content": "{"}]})");
  EXPECT_TRUE(prefill.chat_request.continue_final_message);
  EXPECT_FALSE(prefill.chat_request.add_generation_prompt);
  EXPECT_EQ(prefill.chat_request.tool_choice, text::ToolChoice::kNone);
}

TEST(AnthropicRequest, MistakesNameTheirField) {
  const std::string user = R"("messages": [{"role": "user", "content": "hi"}])";
  expect_error(R"({"model": "m", )" + user + "}", "'max_tokens' is required", "max_tokens");
  expect_error(R"({"max_tokens": 5, )" + user + "}", "'model' is required", "model");
  expect_error(R"({"model": "m", "max_tokens": 0, )" + user + "}", "at least 1");
  expect_error(R"({"model": "m", "max_tokens": 5, "n": 2, )" + user + "}", "unknown field 'n'");
  expect_error(R"({"model": "m", "max_tokens": 5, "messages": []})", "must not be empty");
  expect_error(R"({"model": "m", "max_tokens": 5)", "not valid JSON");
  expect_error(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "system",
      "content": "x"}]})",
               "top-level 'system'", "messages[0].role");
  expect_error(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
      {"type": "text", "text": "see"}, {"type": "image", "source": {"type": "base64",
      "media_type": "image/png", "data": "AA=="}}]}]})",
               "reads text only", "messages[0].content[1].type");
  expect_error(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}]})",
               "does not answer a tool_use block", "messages[0].content[0].tool_use_id");
  expect_error(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user",
      "content": [{"type": "text"}]}]})",
               "'messages[0].content[0].text' is required");
  expect_error(R"({"model": "m", "max_tokens": 5, "tools": [{"type": "web_search_20250305",
      "name": "web_search"}], )" +
                   user + "}",
               "custom tools", "tools[0].type");
  expect_error(R"({"model": "m", "max_tokens": 5, "tools": [{"name": "f"}], )" + user + "}",
               "'tools[0].input_schema' is required");
  expect_error(R"({"model": "m", "max_tokens": 5, "tools": [{"name": "f",
      "input_schema": {}}], "tool_choice": {"type": "tool", "name": "g"}, )" +
                   user + "}",
               "not one of the request's tools", "tool_choice.name");
  expect_error(R"({"model": "m", "max_tokens": 5, "tool_choice": {"type": "any"}, )" + user + "}",
               "needs \"tools\"");
  expect_error(R"({"model": "m", "max_tokens": 5, "stop_sequences": [""], )" + user + "}",
               "'stop_sequences[0]' must be a non-empty string");
  expect_error(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f",
      "input": "x"}]}]})",
               "'messages[1].content[0].input' must be an object");
  std::string deep = R"({"model": "m", "max_tokens": 5, "metadata": )";
  for (int i = 0; i < 80; ++i)
    deep += "[";
  expect_error(deep, "not valid JSON");  // unterminated, and deeper than allowed once closed
  std::string nested = R"({"model": "m", "max_tokens": 5, )" + user + R"(, "tools": [{"name": "f",
      "input_schema": )";
  for (int i = 0; i < 80; ++i)
    nested += R"({"a": )";
  nested += "1";
  for (int i = 0; i < 80; ++i)
    nested += "}";
  expect_error(nested + "}]}", "nests deeper than 64");
}

TEST(AnthropicRequest, CountTokensTakesNoSampling) {
  const CountTokensRequest r = parse_count_tokens_request(
      R"({"model": "m", "system": "s", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.chat.messages.size(), 2u);
  EXPECT_THROW(parse_count_tokens_request(
                   R"({"model": "m", "max_tokens": 3, "messages": [{"role": "user",
                       "content": "hi"}]})"),
               ApiError);
}

// The events of a stream, as (event name, data).
std::vector<std::pair<std::string, json>> events_of(const std::string& sse) {
  std::vector<std::pair<std::string, json>> out;
  size_t at = 0;
  while (at < sse.size()) {
    const size_t end = sse.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << sse.substr(at);
    if (end == std::string::npos) break;
    const std::string one = sse.substr(at, end - at);
    const size_t newline = one.find('\n');
    EXPECT_EQ(one.rfind("event: ", 0), 0u) << one;
    EXPECT_EQ(one.compare(newline + 1, 6, "data: "), 0) << one;
    out.emplace_back(one.substr(7, newline - 7), json::parse(one.substr(newline + 7)));
    at = end + 2;
  }
  return out;
}

ipc::Delta delta(std::string reasoning, std::string text,
                 std::vector<ipc::ToolCallDelta> calls = {}) {
  ipc::Delta d;
  d.reasoning = std::move(reasoning);
  d.text = std::move(text);
  d.tool_calls = std::move(calls);
  return d;
}

TEST(AnthropicResponse, StreamOpensAndClosesBlocksInOrder) {
  AnthropicMessageWriter writer(true, "msg_1", "m", 12);
  std::string sse = writer.push(delta("", ""), 0);
  sse += writer.push(delta("Think", ""), 1);
  sse += writer.push(delta("ing.", "\n\n"), 2);
  sse += writer.push(delta("", "", {{0, "call_1", "get_weather", ""}}), 3);
  sse += writer.push(delta("", "", {{0, "", "", "{\"city\": "}, {0, "", "", "\"Paris\"}"}}), 4);
  sse += writer.end({.finish_reason = "stop",
                     .prompt_tokens = 12,
                     .completion_tokens = 5,
                     .cached_prompt_tokens = 4});
  const auto events = events_of(sse);
  std::vector<std::string> names;
  for (const auto& [name, data] : events) {
    names.push_back(name);
    EXPECT_EQ(data["type"], name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "ping", "content_block_start", "content_block_delta",
                       "content_block_delta", "content_block_delta", "content_block_stop",
                       "content_block_start", "content_block_delta", "content_block_delta",
                       "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(events[0].second["message"]["id"], "msg_1");
  EXPECT_EQ(events[0].second["message"]["usage"]["input_tokens"], 12);
  EXPECT_EQ(events[2].second["content_block"]["type"], "thinking");
  EXPECT_EQ(events[3].second["delta"]["thinking"], "Think");
  // The whitespace between the thinking and the tool call opens no text block.
  EXPECT_EQ(events[5].second["delta"]["type"], "signature_delta");
  EXPECT_EQ(events[5].second["delta"]["signature"], thinking_signature("Thinking."));
  EXPECT_EQ(events[7].second["index"], 1);
  EXPECT_EQ(events[7].second["content_block"]["type"], "tool_use");
  EXPECT_EQ(events[7].second["content_block"]["id"], "call_1");
  EXPECT_EQ(events[7].second["content_block"]["input"], json::object());
  EXPECT_EQ(events[8].second["delta"]["type"], "input_json_delta");
  EXPECT_EQ(json::parse(events[8].second["delta"]["partial_json"].get<std::string>() +
                        events[9].second["delta"]["partial_json"].get<std::string>()),
            (json{{"city", "Paris"}}));
  EXPECT_EQ(events[11].second["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(events[11].second["usage"]["input_tokens"], 8);  // the cache served 4
  EXPECT_EQ(events[11].second["usage"]["cache_read_input_tokens"], 4);
  EXPECT_EQ(events[11].second["usage"]["output_tokens"], 5);
}

TEST(AnthropicResponse, WholeMessageAndStopReasons) {
  AnthropicMessageWriter writer(false, "msg_2", "m", 3);
  EXPECT_EQ(writer.push(delta("why", ""), 1), "");
  writer.push(delta("", "\n\nHello"), 2);
  writer.push(delta("", " world"), 3);
  writer.set_stop_sequence("END");
  const json body = json::parse(
      writer.end({.finish_reason = "stop", .prompt_tokens = 3, .completion_tokens = 3}));
  EXPECT_EQ(body["type"], "message");
  EXPECT_EQ(body["role"], "assistant");
  EXPECT_EQ(body["stop_reason"], "stop_sequence");
  EXPECT_EQ(body["stop_sequence"], "END");
  ASSERT_EQ(body["content"].size(), 2u);
  EXPECT_EQ(
      body["content"][0],
      (json{{"type", "thinking"}, {"thinking", "why"}, {"signature", thinking_signature("why")}}));
  EXPECT_EQ(body["content"][1], (json{{"type", "text"}, {"text", "\n\nHello world"}}));
  AnthropicMessageWriter cut(false, "msg_3", "m", 3);
  cut.push(delta("", "", {{0, "c", "f", "{\"a\": "}}), 1);
  const json length = json::parse(cut.end({.finish_reason = "length"}));
  EXPECT_EQ(length["stop_reason"], "max_tokens");
  EXPECT_EQ(length["content"][0]["input"], json::object());  // cut off: what could be read
  AnthropicMessageWriter plain(false, "msg_4", "m", 3);
  plain.push(delta("", "ok"), 1);
  EXPECT_EQ(json::parse(plain.end({.finish_reason = "stop"}))["stop_reason"], "end_turn");
}

TEST(AnthropicResponse, ErrorsTakeAnthropicsShape) {
  EXPECT_EQ(json::parse(anthropic_error_body(400, "'max_tokens' is required")),
            (json{{"type", "error"},
                  {"error",
                   {{"type", "invalid_request_error"}, {"message", "'max_tokens' is required"}}}}));
  EXPECT_STREQ(anthropic_error_type(401), "authentication_error");
  EXPECT_STREQ(anthropic_error_type(404), "not_found_error");
  EXPECT_STREQ(anthropic_error_type(429), "rate_limit_error");
  EXPECT_STREQ(anthropic_error_type(503), "overloaded_error");
  EXPECT_STREQ(anthropic_error_type(500), "api_error");
  AnthropicMessageWriter writer(true, "msg_5", "m", 1);
  const auto events = events_of(writer.push(delta("", "a"), 1) +
                                writer.end({.finish_reason = "error", .error = "boom"}));
  EXPECT_EQ(events.back().first, "error");
  EXPECT_EQ(events.back().second["error"]["type"], "api_error");
  EXPECT_EQ(events.back().second["error"]["message"], "boom");
}

}  // namespace
}  // namespace mm::http
