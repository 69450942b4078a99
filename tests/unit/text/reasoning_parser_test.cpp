#include "daemon/text/reasoning_parser.h"

#include <gtest/gtest.h>

namespace mm::text {
namespace {

struct Split {
  std::string reasoning;
  std::string content;
  int num_reasoning_deltas = 0;
};

// Feeds `text` in chunks of `chunk` bytes.
Split run(ReasoningMode mode, std::string_view text, size_t chunk,
          bool starts_in_reasoning = true) {
  ReasoningParser parser(mode, starts_in_reasoning);
  Split out;
  for (size_t i = 0; i < text.size(); i += chunk) {
    ReasoningDelta d = parser.push(text.substr(i, chunk));
    out.reasoning += d.reasoning;
    out.content += d.content;
    out.num_reasoning_deltas += d.reasoning.empty() ? 0 : 1;
  }
  ReasoningDelta d = parser.finish();
  out.reasoning += d.reasoning;
  out.content += d.content;
  return out;
}

class ReasoningChunks : public ::testing::TestWithParam<size_t> {};

TEST_P(ReasoningChunks, SplitsAtThinkCloseWhateverTheChunking) {
  const Split s = run(ReasoningMode::kSplit, "Let me think.\nStep 2.\n</think>\n\nThe answer is 4.",
                      GetParam());
  EXPECT_EQ(s.reasoning, "Let me think.\nStep 2.");
  EXPECT_EQ(s.content, "The answer is 4.");
}

// vLLM #38212 / PR #38213: M2.5 sometimes emits <think> itself; it must not leak into either field.
TEST_P(ReasoningChunks, ModelEmittedThinkOpenIsSwallowed) {
  const Split s = run(ReasoningMode::kSplit, "<think>\nreason</think>answer", GetParam());
  EXPECT_EQ(s.reasoning, "reason");
  EXPECT_EQ(s.content, "answer");
}

// vLLM PR #44898: a second </think> inside the answer must not reach the content.
TEST_P(ReasoningChunks, RepeatedThinkCloseInContentIsDropped) {
  const Split s = run(ReasoningMode::kSplit, "r</think>\n\npart one</think> part two", GetParam());
  EXPECT_EQ(s.reasoning, "r");
  EXPECT_EQ(s.content, "part one part two");
}

// A tool call before </think> ends reasoning implicitly (Dynamo PR / vLLM-eng); the marker stays
// in content for the tool parser.
TEST_P(ReasoningChunks, ToolCallEndsReasoning) {
  const Split s =
      run(ReasoningMode::kSplit, "plan\n<minimax:tool_call>\n<invoke name=\"f\">", GetParam());
  EXPECT_EQ(s.reasoning, "plan");
  EXPECT_EQ(s.content, "<minimax:tool_call>\n<invoke name=\"f\">");
}

TEST_P(ReasoningChunks, AppendThinkKeepsEverythingInContent) {
  const std::string out = "reason\n</think>\n\nanswer";
  const Split s = run(ReasoningMode::kAppendThink, out, GetParam());
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "<think>" + out);
}

INSTANTIATE_TEST_SUITE_P(Chunking, ReasoningChunks, ::testing::Values(1, 2, 3, 5, 7, 1000));

TEST(ReasoningParser, PartialMarkerIsHeldNotLeaked) {
  ReasoningParser parser(ReasoningMode::kSplit);
  ReasoningDelta d = parser.push("abc</thi");
  EXPECT_EQ(d.reasoning, "abc");
  EXPECT_EQ(d.content, "");
  d = parser.push("nk>x");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "x");
  EXPECT_TRUE(parser.reasoning_ended());
}

TEST(ReasoningParser, NoThinkCloseMeansAllReasoning) {
  const Split s = run(ReasoningMode::kSplit, "still thinking <b>bold</b>", 4);
  EXPECT_EQ(s.reasoning, "still thinking <b>bold</b>");
  EXPECT_EQ(s.content, "");
  EXPECT_GT(s.num_reasoning_deltas, 1);  // reasoning streams, it is not buffered to the end
}

TEST(ReasoningParser, StartInContentWhenThinkingClosedInPrompt) {
  const Split s = run(ReasoningMode::kSplit, "direct answer", 3, /*starts_in_reasoning=*/false);
  EXPECT_EQ(s.content, "direct answer");
  EXPECT_EQ(s.reasoning, "");
}

TEST(ReasoningParser, AppendThinkReasoningEndTracksLastMarker) {
  ReasoningParser parser(ReasoningMode::kAppendThink);
  EXPECT_FALSE(parser.reasoning_ended());
  parser.push("a</th");
  EXPECT_FALSE(parser.reasoning_ended());
  parser.push("ink>b");
  EXPECT_TRUE(parser.reasoning_ended());
  parser.push("<think>");
  EXPECT_FALSE(parser.reasoning_ended());
}

}  // namespace
}  // namespace mm::text
