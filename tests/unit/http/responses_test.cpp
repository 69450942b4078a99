// The Responses API: request bodies become the one ChatRequest (and each mistake a 400 naming its
// field); the writer's items and event sequence for reasoning, text and tool calls.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/frontends/http/responses_request.h"
#include "daemon/frontends/http/responses_response.h"

namespace mm::http {
namespace {

using json = nlohmann::ordered_json;

void expect_error(const std::string& body, const std::string& param, const std::string& needle) {
  try {
    parse_responses_request(body);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    EXPECT_EQ(e.param(), param) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ResponsesRequest, StringInputIsOneUserMessageAfterInstructions) {
  const ResponsesRequest r = parse_responses_request(
      R"({"model": "m", "input": "hi", "instructions": "be brief", "max_output_tokens": 9,
          "temperature": 0.5, "top_p": 0.9, "stream": true, "store": true,
          "metadata": {"k": "v"}, "user": "u", "truncation": "disabled",
          "reasoning": {"effort": "low"}, "text": {"format": {"type": "text"}}})");
  const auto& messages = r.generation.chat_request.messages;
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].role, "system");
  EXPECT_EQ(messages[0].content.as_string(), "be brief");
  EXPECT_EQ(messages[1].role, "user");
  EXPECT_EQ(messages[1].content.as_string(), "hi");
  EXPECT_TRUE(r.generation.chat);
  EXPECT_TRUE(r.generation.stream);
  EXPECT_EQ(r.generation.sampling.max_tokens, 9);
  EXPECT_FLOAT_EQ(*r.generation.sampling.temperature, 0.5f);
  EXPECT_EQ(r.generation.model, "m");
  EXPECT_EQ(r.generation.chat_request.tool_choice, text::ToolChoice::kNone);
  EXPECT_EQ(r.echo["store"], false);
  EXPECT_EQ(r.echo["metadata"]["k"], "v");
  EXPECT_EQ(r.echo["reasoning"]["effort"], "low");
  EXPECT_EQ(r.echo["instructions"], "be brief");
  EXPECT_EQ(r.echo["temperature"], 0.5);
}

TEST(ResponsesRequest, ItemsBecomeAssistantTurnsAndToolMessages) {
  const ResponsesRequest r = parse_responses_request(R"({
    "input": [
      {"role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"},
                                                       {"type": "input_text", "text": "b"}]},
      {"type": "reasoning", "id": "rs_1", "summary": [],
       "content": [{"type": "reasoning_text", "text": "think"}]},
      {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
       "content": [{"type": "output_text", "text": "calling", "annotations": []}]},
      {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"x\": 1}"},
      {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c1", "output": "one"},
      {"type": "function_call_output", "call_id": "c2",
       "output": [{"type": "input_text", "text": "tw"}, {"type": "input_text", "text": "o"}]},
      {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "s"}]},
      {"type": "function_call", "call_id": "c3", "name": "f", "arguments": "{}"}],
    "tools": [{"type": "function", "name": "f", "description": "d", "strict": true,
               "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}],
    "tool_choice": {"type": "function", "name": "f"}})");
  const text::ChatRequest& chat = r.generation.chat_request;
  ASSERT_EQ(chat.messages.size(), 6u);
  EXPECT_EQ(chat.messages[0].role, "system");  // developer
  EXPECT_EQ(chat.messages[1].role, "user");
  ASSERT_TRUE(chat.messages[1].content.is_array());
  EXPECT_EQ(chat.messages[1].content.as_array().size(), 2u);
  const text::ChatMessage& turn = chat.messages[2];
  EXPECT_EQ(turn.role, "assistant");
  EXPECT_EQ(turn.reasoning_content.value_or(""), "think");
  ASSERT_TRUE(turn.content.is_array());
  EXPECT_EQ(turn.content.as_array()[0].find("text")->as_string(), "calling");
  ASSERT_EQ(turn.tool_calls.size(), 2u);
  EXPECT_EQ(turn.tool_calls[0].id, "c1");
  EXPECT_EQ(turn.tool_calls[0].arguments.find("x")->as_int(), 1);
  EXPECT_EQ(chat.messages[3].role, "tool");
  EXPECT_EQ(chat.messages[3].tool_call_id, "c1");
  EXPECT_EQ(chat.messages[4].content.as_string(), "two");
  const text::ChatMessage& last = chat.messages[5];
  EXPECT_EQ(last.reasoning_content.value_or(""), "s");  // the summary when there is no content
  ASSERT_EQ(last.tool_calls.size(), 1u);
  EXPECT_TRUE(last.content.is_null());
  // Flat tools become OpenAI tool objects, keys in the order sent.
  ASSERT_EQ(chat.tools.size(), 1u);
  const text::JsonValue* function = chat.tools[0].find("function");
  ASSERT_NE(function, nullptr);
  EXPECT_EQ(function->as_object()[0].first, "name");
  EXPECT_EQ(function->as_object()[1].first, "description");
  EXPECT_EQ(chat.tool_choice, text::ToolChoice::kNamed);
  EXPECT_EQ(chat.tool_choice_name, "f");
  EXPECT_EQ(r.echo["tools"][0]["name"], "f");
}

TEST(ResponsesRequest, MistakesNameTheirField) {
  expect_error("[1]", "", "must be a JSON object");
  expect_error(R"({"input": "x", "previous_response_id": "resp_1"})", "previous_response_id",
               "stored responses are not kept");
  expect_error(R"({"input": "x", "conversation": "c"})", "conversation", "not kept");
  expect_error(R"({"input": "x", "bogus": 1})", "bogus", "unknown field");
  expect_error(R"({"instructions": "x"})", "input", "is required");
  expect_error(R"({"input": []})", "input", "non-empty");
  expect_error(R"({"input": [{"role": "tool", "content": "x"}]})", "input[0].role", "'tool'");
  expect_error(
      R"({"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]})",
      "input[0].content[0].type", "input_text");
  expect_error(R"({"input": [{"role": "user", "content": [{"type": "input_image"}]}]})",
               "input[0].content[0].type", "text only");
  expect_error(R"({"input": [{"type": "function_call", "call_id": "c", "name": "f",
                              "arguments": "{\"x\""}]})",
               "input[0].arguments", "not valid JSON");
  expect_error(R"({"input": [{"type": "function_call", "call_id": "c", "name": "f",
                              "arguments": "[1]"}]})",
               "input[0].arguments", "object");
  expect_error(R"({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]})",
               "input[0].call_id", "is required");
  expect_error(R"({"input": [{"type": "function_call_output", "call_id": "zz", "output": "x"}]})",
               "input[0].call_id", "names no function_call");
  expect_error(R"({"input": [{"type": "item_reference", "id": "msg_1"}]})", "input[0].type",
               "not kept");
  expect_error(R"({"input": [{"type": "web_search_call"}]})", "input[0].type", "not supported");
  expect_error(R"({"input": "x", "tools": [{"type": "web_search"}]})", "tools[0].type",
               "function tools only");
  expect_error(R"({"input": "x", "tools": [{"type": "function", "name": "f"},
                                          {"type": "function", "name": "f"}]})",
               "tools[1].name", "earlier tool");
  expect_error(R"({"input": "x", "tools": [{"type": "function", "name": "f",
                                          "function": {}}]})",
               "tools[0].function", "unknown field");
  expect_error(R"({"input": "x", "tool_choice": "required"})", "tool_choice", "needs");
  expect_error(R"({"input": "x", "tools": [{"type": "function", "name": "f"}],
                   "tool_choice": {"type": "function", "name": "g"}})",
               "tool_choice.name", "not one of");
  expect_error(R"({"input": "x", "tool_choice": "sometimes"})", "tool_choice", "sometimes");
  expect_error(R"({"input": "x", "text": {"format": {"type": "json_schema", "name": "n",
                                                     "schema": 5}}})",
               "text.format.schema", "JSON Schema object");
  expect_error(R"({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}})",
               "text.format.name", "is required");
  expect_error(R"({"input": "x", "text": {"format": {"type": "xml"}}})", "text.format.type",
               "'xml'");
  expect_error(R"({"input": "x", "truncation": "auto"})", "truncation", "disabled");
  expect_error(R"({"input": "x", "reasoning": {"effort": "huge"}})", "reasoning.effort", "huge");
  expect_error(R"({"input": "x", "max_output_tokens": "9"})", "max_output_tokens", "integer");
  expect_error(R"({"input": "x", "metadata": {"k": 1}})", "metadata.k", "string");
  expect_error(R"({"input": "x", "include": ["message.output_text.logprobs"]})", "include[0]",
               "not supported");
  expect_error(R"({"input": "x", "stream_options": {}})", "stream_options", "stream");
  expect_error(R"({"input": "x", "background": true})", "background", "not supported");
}

TEST(ResponsesRequest, TextFormatIsTheChatsOutputFormat) {
  const ResponsesRequest schema = parse_responses_request(R"({"input": "x", "text": {"format": {
      "type": "json_schema", "name": "n", "strict": true,
      "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}})");
  const text::OutputFormat& output = schema.generation.chat_request.output;
  EXPECT_EQ(output.kind, text::OutputFormat::Kind::kJsonSchema);
  EXPECT_EQ(output.where, "text.format.schema");
  ASSERT_NE(output.schema.find("properties"), nullptr);
  EXPECT_EQ(schema.echo["text"]["format"]["name"], "n");
  const ResponsesRequest object =
      parse_responses_request(R"({"input": "x", "text": {"format": {"type": "json_object"}}})");
  EXPECT_EQ(object.generation.chat_request.output.kind, text::OutputFormat::Kind::kJsonObject);
  const ResponsesRequest plain = parse_responses_request(R"({"input": "x"})");
  EXPECT_EQ(plain.generation.chat_request.output.kind, text::OutputFormat::Kind::kText);
}

TEST(ResponsesRequest, CodexStyleBodyIsAccepted) {
  // What a Codex-style client sends: store false, encrypted reasoning asked for, cache key.
  const ResponsesRequest r = parse_responses_request(R"({
    "model": "m", "instructions": "sys", "input": [{"type": "message", "role": "user",
    "content": [{"type": "input_text", "text": "ls"}]}], "tools": [], "tool_choice": "auto",
    "parallel_tool_calls": false, "reasoning": {"effort": "medium", "summary": "auto"},
    "store": false, "stream": true, "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "k", "text": {"verbosity": "low"}})");
  EXPECT_EQ(r.echo["parallel_tool_calls"], false);
  EXPECT_EQ(r.echo["text"]["verbosity"], "low");
  EXPECT_EQ(r.generation.ignored_fields, std::vector<std::string>{"prompt_cache_key"});
}

// The events of one stream, parsed: (event line, data object).
std::vector<json> events(const std::string& sse) {
  std::vector<json> out;
  std::istringstream lines(sse);
  std::string line, type;
  while (std::getline(lines, line)) {
    if (line.rfind("event: ", 0) == 0) type = line.substr(7);
    if (line.rfind("data: ", 0) == 0) {
      json data = json::parse(line.substr(6));
      EXPECT_EQ(data["type"], type);
      out.push_back(std::move(data));
    }
  }
  return out;
}

ipc::Delta reasoning(const std::string& text) {
  ipc::Delta d;
  d.reasoning = text;
  return d;
}
ipc::Delta content(const std::string& text) {
  ipc::Delta d;
  d.text = text;
  return d;
}
ipc::Delta call(int index, const std::string& id, const std::string& name,
                const std::string& arguments) {
  ipc::Delta d;
  d.tool_calls.push_back({index, id, name, arguments});
  return d;
}

TEST(ResponsesWriter, StreamsItemsInOrderWithSequenceNumbers) {
  ResponsesWriter w(json{{"tools", json::array()}}, "model", true, "abc", 100);
  std::string sse = w.push({}, 0);  // the opening comes first, even with nothing to say
  sse += w.push(reasoning("let me "), 1);
  sse += w.push(reasoning("think"), 2);
  sse += w.push(content("\n\n"), 3);  // whitespace alone opens no message
  sse += w.push(call(0, "call_1", "f", ""), 4);
  sse += w.push(call(0, "", "", "{\"x\": "), 5);
  sse += w.push(call(0, "", "", "1}"), 6);
  sse += w.push(content("done"), 7);
  sse += w.end({.finish_reason = "stop",
                .prompt_tokens = 10,
                .completion_tokens = 7,
                .cached_prompt_tokens = 4});
  const std::vector<json> e = events(sse);
  std::vector<std::string> types;
  for (size_t i = 0; i < e.size(); ++i) {
    EXPECT_EQ(e[i]["sequence_number"], i);
    types.push_back(e[i]["type"]);
  }
  const std::vector<std::string> expected = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",  // reasoning
                                             "response.content_part.added",
                                             "response.reasoning_text.delta",
                                             "response.reasoning_text.delta",
                                             "response.reasoning_text.done",
                                             "response.content_part.done",
                                             "response.output_item.done",
                                             "response.output_item.added",  // function_call
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.output_item.added",  // message
                                             "response.content_part.added",
                                             "response.output_text.delta",
                                             "response.output_text.done",
                                             "response.content_part.done",
                                             "response.output_item.done",
                                             "response.completed"};
  EXPECT_EQ(types, expected);
  EXPECT_EQ(e[0]["response"]["id"], "resp_abc");
  EXPECT_EQ(e[0]["response"]["status"], "in_progress");
  EXPECT_EQ(e[9]["item"]["call_id"], "call_1");
  EXPECT_EQ(e[9]["item"]["name"], "f");
  EXPECT_EQ(e[9]["output_index"], 1);
  EXPECT_EQ(e[12]["arguments"], "{\"x\": 1}");
  EXPECT_EQ(e[16]["delta"], "done");  // the held whitespace was dropped before the call
  const json& done = e.back()["response"];
  EXPECT_EQ(done["status"], "completed");
  ASSERT_EQ(done["output"].size(), 3u);
  EXPECT_EQ(done["output"][0]["type"], "reasoning");
  EXPECT_EQ(done["output"][0]["content"][0]["text"], "let me think");
  EXPECT_EQ(done["output"][1]["arguments"], "{\"x\": 1}");
  EXPECT_EQ(done["output"][2]["content"][0]["text"], "done");
  EXPECT_EQ(done["usage"]["input_tokens"], 10);
  EXPECT_EQ(done["usage"]["output_tokens"], 7);
  EXPECT_EQ(done["usage"]["total_tokens"], 17);
  EXPECT_EQ(done["usage"]["input_tokens_details"]["cached_tokens"], 4);
  EXPECT_EQ(done["usage"]["input_tokens_details"]["cache_write_tokens"], 0);  // openai requires it
  EXPECT_EQ(done["usage"]["output_tokens_details"]["reasoning_tokens"], 2);
}

TEST(ResponsesWriter, WholeResponseAtLengthIsIncomplete) {
  ResponsesWriter w(json{{"metadata", json::object()}}, "model", false, "f00", 100);
  EXPECT_EQ(w.push({}, 0), "");
  EXPECT_EQ(w.push(content("  lead"), 1), "");
  EXPECT_EQ(w.push(content("ing"), 2), "");
  const json body = json::parse(w.end({.finish_reason = "length", .completion_tokens = 2}));
  EXPECT_EQ(body["object"], "response");
  EXPECT_EQ(body["status"], "incomplete");
  EXPECT_EQ(body["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(body["model"], "model");
  EXPECT_TRUE(body["metadata"].is_object());
  ASSERT_EQ(body["output"].size(), 1u);
  EXPECT_EQ(body["output"][0]["status"], "incomplete");
  EXPECT_EQ(body["output"][0]["content"][0]["text"], "  leading");  // whitespace kept as a lead
  EXPECT_EQ(body["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
  EXPECT_FALSE(body.contains("completed_at"));
}

TEST(ResponsesWriter, FailureMidStreamIsResponseFailed) {
  ResponsesWriter w(json::object(), "model", true, "e", 1);
  std::string sse = w.push(content("par"), 1);
  sse += w.end({.finish_reason = "error", .error = "boom"});
  const std::vector<json> e = events(sse);
  EXPECT_EQ(e.back()["type"], "response.failed");
  EXPECT_EQ(e.back()["response"]["status"], "failed");
  EXPECT_EQ(e.back()["response"]["error"]["message"], "boom");
  EXPECT_EQ(e.back()["response"]["error"]["code"], "server_error");
}

}  // namespace
}  // namespace mm::http
