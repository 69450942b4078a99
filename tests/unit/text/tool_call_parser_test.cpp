#include "daemon/text/tool_call_parser.h"

#include <gtest/gtest.h>

#include "daemon/text/json_value.h"

namespace mm::text {
namespace {

std::vector<ToolSchema> tools() {
  return tools_from_json(JsonValue::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
      "city": {"type": "string"}, "days": {"type": "integer"}, "detail": {"type": "boolean"},
      "ratio": {"type": "number"}, "tags": {"type": "array"}, "opts": {"type": "object"},
      "zip": {"type": "string"}, "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
      "maybe": {"type": ["integer", "null"]}}}}},
    {"type": "function", "function": {"name": "write_file", "parameters": {"type": "object", "properties": {
      "path": {"type": "string"}, "content": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}
  ])"));
}

struct Result {
  std::string content;
  std::vector<ToolCall> calls;
  std::vector<int> num_arg_deltas;
  std::vector<int> aborted;
  bool name_before_args = true;
};

Result run(std::string_view text, size_t chunk) {
  ToolCallParser parser(tools(), 42);
  std::vector<ToolCallEvent> events;
  for (size_t i = 0; i < text.size(); i += chunk) {
    for (auto& e : parser.push(text.substr(i, chunk)))
      events.push_back(std::move(e));
  }
  for (auto& e : parser.finish())
    events.push_back(std::move(e));
  Result r;
  for (const auto& e : events) {
    const auto i = static_cast<size_t>(e.index);
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent:
        r.content += e.text;
        break;
      case ToolCallEvent::Kind::kStart:
        r.calls.resize(i + 1);
        r.num_arg_deltas.resize(i + 1);
        r.calls[i] = {e.id, e.text, ""};
        break;
      case ToolCallEvent::Kind::kArguments:
        if (i >= r.calls.size()) r.name_before_args = false;
        r.calls.resize(std::max(r.calls.size(), i + 1));
        r.num_arg_deltas.resize(r.calls.size());
        r.calls[i].arguments += e.text;
        ++r.num_arg_deltas[i];
        break;
      case ToolCallEvent::Kind::kEnd:
        break;
      case ToolCallEvent::Kind::kAborted:
        r.aborted.push_back(e.index);
        break;
    }
  }
  return r;
}

class ToolChunks : public ::testing::TestWithParam<size_t> {};

TEST_P(ToolChunks, TypedArgumentsFromSchema) {
  const Result r =
      run("Checking.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n"
          "<parameter name=\"city\">  Paris  </parameter>\n<parameter name=\"days\">3</parameter>\n"
          "<parameter name=\"detail\">True</parameter>\n<parameter name=\"ratio\">2.0</parameter>\n"
          "<parameter name=\"tags\">[\"a\", 1]</parameter>\n<parameter name=\"opts\">{\"u\": "
          "\"°C\"}</parameter>\n"
          "<parameter name=\"zip\">01234</parameter>\n</invoke>\n</minimax:tool_call>",
          GetParam());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.content, "Checking.\n");
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(
      r.calls[0].arguments,
      R"({"city": "Paris", "days": 3, "detail": true, "ratio": 2, "tags": ["a", 1], "opts": {"u": "°C"}, "zip": "01234"})");
  EXPECT_EQ(r.calls[0].id.size(), 29u);
  EXPECT_EQ(r.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_TRUE(r.aborted.empty());
}

// Regression (vLLM #39649, fixed by PR #45701): string arguments must stream, not arrive whole.
TEST_P(ToolChunks, StringArgumentsStreamIncrementally) {
  const std::string body(200, 'x');
  const Result r =
      run("<minimax:tool_call><invoke name=\"write_file\"><parameter name=\"content\">" + body +
              "</parameter></invoke></minimax:tool_call>",
          GetParam());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, "{\"content\": \"" + body + "\"}");
  if (GetParam() < 50) {
    EXPECT_GT(r.num_arg_deltas[0], 3);
  }
  EXPECT_TRUE(r.name_before_args);
}

// Regression (legacy regex parsers): a literal </parameter> inside a value (e.g. writing XML) cut
// the value short.
TEST_P(ToolChunks, LiteralParameterCloseInsideValueIsKept) {
  const Result r =
      run("<minimax:tool_call>\n<invoke name=\"write_file\">\n<parameter "
          "name=\"path\">a.xml</parameter>\n"
          "<parameter name=\"content\">" +
              std::string("<root></parameter> text</root>") +
              "</parameter>\n</invoke>\n</minimax:tool_call>",
          GetParam());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments,
            R"({"path": "a.xml", "content": "<root></parameter> text</root>"})");
  EXPECT_EQ(r.content, "");
}

// Regression (vllm-ascend #10758, SGLang PR #17578): markers split across chunks must not leak
// into content, and calls must not be lost.
TEST_P(ToolChunks, SplitMarkersDoNotLeakIntoContent) {
  const Result r = run(
      "ok <minimax:tool_call><invoke name='ping'></invoke></minimax:tool_call> after", GetParam());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.content, "ok  after");      // text after the block is kept (nothing lost)
  EXPECT_EQ(r.calls[0].arguments, "{}");  // SGLang PR #36691: zero-argument calls stream {}
}

TEST_P(ToolChunks, SeveralInvokesAndBlocksKeepIndicesAndIds) {
  const Result r =
      run("<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter "
          "name=\"city\">Rome</parameter>\n</invoke>\n"
          "<invoke name=get_weather>\n<parameter "
          "name='city'>Oslo</parameter>\n</invoke>\n</minimax:tool_call>\n"
          "and\n<minimax:tool_call>\n<invoke name=\"ping\">\n</invoke>\n</minimax:tool_call>",
          GetParam());
  ASSERT_EQ(r.calls.size(), 3u);
  EXPECT_EQ(r.calls[0].arguments, R"({"city": "Rome"})");
  EXPECT_EQ(r.calls[1].arguments, R"({"city": "Oslo"})");
  EXPECT_EQ(r.calls[2].name, "ping");
  EXPECT_NE(r.calls[0].id,
            r.calls[1].id);  // legacy bug: a second block re-emitted calls with new ids
  EXPECT_EQ(r.content, "\nand\n");
}

// SGLang #16057: anyOf [string, null] turned real strings into null; smg #1743: numeric-looking
// strings became numbers.
TEST_P(ToolChunks, SchemaDecidesNullAndNumbers) {
  const Result r =
      run("<minimax:tool_call><invoke name=\"get_weather\"><parameter name=\"note\">None of "
          "them</parameter>"
          "<parameter name=\"city\">None</parameter><parameter name=\"zip\">12345</parameter>"
          "<parameter name=\"maybe\">null</parameter><parameter "
          "name=\"note\">nil</parameter></invoke></minimax:tool_call>",
          GetParam());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(
      r.calls[0].arguments,
      R"({"note": "None of them", "city": "None", "zip": "12345", "maybe": null, "note": null})");
}

TEST_P(ToolChunks, MissingParameterCloseIsTolerated) {
  const Result r =
      run("<minimax:tool_call><invoke name=\"get_weather\"><parameter "
          "name=\"city\">Lima\n<parameter name=\"days\">2\n"
          "</invoke></minimax:tool_call>",
          GetParam());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, R"({"city": "Lima", "days": 2})");
}

// Spec §6.7.8: output cut off inside a call yields no half call; its text is returned as content.
TEST_P(ToolChunks, TruncatedInvokeIsAbortedAndReturnedAsContent) {
  const std::string text =
      "x <minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"city\">Par";
  const Result r = run(text, GetParam());
  ASSERT_EQ(r.aborted.size(), 1u);
  EXPECT_EQ(r.content, text);
  const ParsedToolCalls p = ToolCallParser::parse(text, tools(), 1);
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, r.content);
}

TEST_P(ToolChunks, UnknownToolAndMalformedTagsStayContent) {
  const Result r =
      run("<minimax:tool_call><invoke name=\"rm_rf\"><parameter name=\"p\">/</parameter></invoke>"
          "<invoke>broken</minimax:tool_call>",
          GetParam());
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.content,
            "<minimax:tool_call><invoke name=\"rm_rf\"><parameter "
            "name=\"p\">/</parameter></invoke><invoke>broken");
}

INSTANTIATE_TEST_SUITE_P(Chunking, ToolChunks, ::testing::Values(1, 2, 3, 7, 16, 100000));

TEST(ToolCallParser, NoTagMeansAllContent) {
  const ParsedToolCalls p =
      ToolCallParser::parse("plain answer with <b>tags</b> and <minimax", tools(), 1);
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, "plain answer with <b>tags</b> and <minimax");
}

TEST(ToolCallParser, ArgumentsAreValidJson) {
  const ParsedToolCalls p = ToolCallParser::parse(
      "<minimax:tool_call><invoke name=\"write_file\"><parameter name=\"content\">line "
      "\"1\"\n\tback\\slash 中文"
      "</parameter></invoke></minimax:tool_call>",
      tools(), 7);
  ASSERT_EQ(p.calls.size(), 1u);
  const JsonValue args = JsonValue::parse(p.calls[0].arguments);
  EXPECT_EQ(args.find("content")->as_string(), "line \"1\"\n\tback\\slash 中文");
}

TEST(ToolSchemaTest, AllowedTypesFromUnionsAndEnums) {
  const auto types =
      allowed_types(JsonValue::parse(R"({"anyOf": [{"type": "integer"}, {"enum": ["a", null]}]})"));
  EXPECT_EQ(types, (std::vector<std::string>{"integer", "string", "null"}));
  const ToolSchema tool{
      "t",
      JsonValue::parse(R"({"properties": {"n": {"type": "number"}, "b": {"type": "boolean"}}})")};
  EXPECT_EQ(coerce_parameter(&tool, "n", "1.5").dump(), "1.5");
  EXPECT_EQ(coerce_parameter(&tool, "n", "abc").dump(), "\"abc\"");  // nothing fits: raw string
  EXPECT_EQ(coerce_parameter(&tool, "b", "off").dump(), "false");
  EXPECT_EQ(coerce_parameter(&tool, "unknown", "42").dump(), "\"42\"");  // no schema: string
  EXPECT_EQ(coerce_parameter(nullptr, "x", "true").dump(), "\"true\"");
}

}  // namespace
}  // namespace mm::text
