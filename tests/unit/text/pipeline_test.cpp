// End to end over the output side: generated token ids -> streaming detokenizer -> reasoning
// parser -> tool-call parser, one token at a time, as the daemon will run them.
#include <gtest/gtest.h>

#include <thread>

#include "daemon/text/detokenizer.h"
#include "daemon/text/reasoning_parser.h"
#include "daemon/text/tokenizer.h"
#include "daemon/text/tool_call_parser.h"
#include "tests/unit/text/fixtures.h"

namespace mm::text {
namespace {

const Tokenizer& minimax() {
  static const Tokenizer kTok =
      Tokenizer::from_file(testing::fixture_path("minimax_test.tokenizer.json"));
  return kTok;
}

TEST(TextPipeline, TokensToReasoningContentAndToolCalls) {
  const std::string output =
      "The user wants weather; 東京 is Tokyo.\n</think>\n\nLet me check.\n<minimax:tool_call>\n"
      "<invoke name=\"get_weather\">\n<parameter name=\"city\">東京</parameter>\n"
      "<parameter name=\"days\">2</parameter>\n</invoke>\n</minimax:tool_call>[e~[";
  const auto ids = minimax().encode(output);
  ASSERT_EQ(ids.back(), 200020);  // [e~[ is the stop token
  const auto tools = tools_from_json(JsonValue::parse(
      R"([{"type":"function","function":{"name":"get_weather","parameters":{"properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}])"));

  StreamingDetokenizer detok(minimax(), {.stop_strings = {"[e~["}});
  ReasoningParser reasoning(ReasoningMode::kSplit);
  ToolCallParser calls(tools, 5);
  std::string reasoning_text, content;
  std::vector<ToolCallEvent> events;
  auto feed = [&](const ReasoningDelta& d) {
    reasoning_text += d.reasoning;
    for (auto& e : calls.push(d.content))
      events.push_back(std::move(e));
  };
  for (int32_t id : ids) {
    feed(reasoning.push(detok.push(id)));
    if (detok.stopped()) break;
  }
  feed(reasoning.push(detok.finish()));
  feed(reasoning.finish());
  for (auto& e : calls.finish())
    events.push_back(std::move(e));

  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(reasoning_text, "The user wants weather; 東京 is Tokyo.");
  std::string name, args;
  for (const auto& e : events) {
    if (e.kind == ToolCallEvent::Kind::kContent) content += e.text;
    if (e.kind == ToolCallEvent::Kind::kStart) name = e.text;
    if (e.kind == ToolCallEvent::Kind::kArguments) args += e.text;
  }
  EXPECT_EQ(content, "Let me check.\n");
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(args, R"({"city": "東京", "days": 2})");
}

TEST(TextPipeline, ConcurrentEncodesAgree) {
  const std::string text = "Concurrent encode — 并发编码 — with a per-thread word cache. ";
  std::string long_text;
  for (int i = 0; i < 200; ++i)
    long_text += text + std::to_string(i);
  const auto want = minimax().encode(long_text);
  std::vector<std::vector<int32_t>> got(2);
  std::thread a([&] { got[0] = minimax().encode(long_text); });
  std::thread b([&] { got[1] = minimax().encode(long_text); });
  a.join();
  b.join();
  EXPECT_EQ(got[0], want);
  EXPECT_EQ(got[1], want);
}

}  // namespace
}  // namespace mm::text
