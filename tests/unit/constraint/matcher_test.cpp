// The mask against a brute-force reference (every token tried on a fresh copy of the matcher at
// the same state, its own tables empty), on a
// vocabulary with boundary-spanning tokens and cut UTF-8 characters; byte-exact acceptance of
// what the chat template writes and rejection of near misses.
#include <gtest/gtest.h>

#include <random>

#include "daemon/constraint/constraint.h"
#include "daemon/constraint/schema_compiler.h"
#include "daemon/text/json_value.h"
#include "daemon/text/tool_call_parser.h"
#include "daemon/text/tool_schema.h"
#include "tests/unit/constraint/test_vocab.h"

namespace mm::constraint {
namespace {

using testing::kEndId;
using testing::kSpecialId;
using text::JsonValue;

std::shared_ptr<const Grammar> schema_grammar(std::string_view schema) {
  OutputSpec spec;
  spec.kind = OutputSpec::Kind::kJsonSchema;
  spec.schema = JsonValue::parse(schema);
  spec.where = "schema";
  return compile_output(spec, false);
}

std::vector<uint32_t> reference_mask(const Matcher& m, const VocabIndex& vocab) {
  std::vector<uint32_t> mask(vocab.num_words(), 0);
  for (int32_t id = 0; id < vocab.vocab_size(); ++id) {
    Matcher copy = m.clone_state();
    if (copy.advance_token(id)) mask[static_cast<size_t>(id) >> 5] |= 1u << (id & 31);
  }
  return mask;
}

std::vector<int32_t> allowed_ids(const std::vector<uint32_t>& mask, int32_t vocab_size) {
  std::vector<int32_t> out;
  for (int32_t id = 0; id < vocab_size; ++id) {
    if ((mask[static_cast<size_t>(id) >> 5] >> (id & 31)) & 1) out.push_back(id);
  }
  return out;
}

// Random walks; at every step the mask equals the reference. Returns the texts that ended.
std::vector<std::string> check_walks(const std::shared_ptr<const Grammar>& grammar, int num_walks,
                                     int max_steps, uint64_t seed) {
  auto vocab = testing::test_vocab();
  std::mt19937_64 rng(seed);
  std::vector<std::string> ended;
  for (int w = 0; w < num_walks; ++w) {
    Matcher m(grammar, vocab);
    std::string text;
    for (int step = 0; step < max_steps; ++step) {
      std::vector<uint32_t> mask(vocab->num_words());
      m.fill_mask(mask);
      const std::vector<uint32_t> expected = reference_mask(m, *vocab);
      if (mask != expected) {
        std::string diff;
        for (int32_t id = 0; id < vocab->vocab_size(); ++id) {
          const bool got = (mask[static_cast<size_t>(id) >> 5] >> (id & 31)) & 1;
          const bool want = (expected[static_cast<size_t>(id) >> 5] >> (id & 31)) & 1;
          if (got != want)
            diff += (got ? " +" : " -") + std::to_string(id) + "'" + vocab->token(id) + "'";
        }
        ADD_FAILURE() << "step " << step << " after '" << text << "': mask differs:" << diff;
        return ended;
      }
      EXPECT_EQ((mask[kSpecialId >> 5] >> (kSpecialId & 31)) & 1, 0u);
      const std::vector<int32_t> ids = allowed_ids(mask, vocab->vocab_size());
      if (ids.empty()) {
        ADD_FAILURE() << "dead end after '" << text << "'";
        return ended;
      }
      // Prefer multi-byte tokens and the end, so walks cross boundaries and finish.
      int32_t pick = ids[rng() % ids.size()];
      if (m.accepts() && rng() % 3 == 0) pick = kEndId;
      for (int tries = 0; tries < 3 && pick < 256 && pick != kEndId; ++tries)
        pick = ids[rng() % ids.size()];
      EXPECT_TRUE(m.advance_token(pick));
      if (pick == kEndId) {
        ended.push_back(text);
        break;
      }
      text += vocab->token(pick);
    }
  }
  return ended;
}

TEST(ConstraintMatcher, MaskEqualsBruteForceOnSchemas) {
  for (
      std::string_view schema : {
          R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name"]})",
          R"({"type":"array","items":{"enum":["a","b\"",1,null]},"minItems":1,"maxItems":3})",
          R"({"anyOf":[{"type":"number"},{"type":"string","maxLength":3},{"type":"boolean"}]})",
          R"({"type":"string","pattern":"^[a-c]+(é|中)?\\d{1,2}$"})",
          R"({"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/n"},{"type":"null"}]}},"required":["v","next"]}},"$ref":"#/$defs/n"})",
      }) {
    SCOPED_TRACE(schema);
    check_walks(schema_grammar(schema), 6, 60, 7);
  }
}

TEST(ConstraintMatcher, MaskEqualsBruteForceOnAnyJsonAndReasoning) {
  OutputSpec spec;
  spec.kind = OutputSpec::Kind::kJsonObject;
  check_walks(compile_output(spec, false), 6, 60, 11);
  check_walks(compile_output(spec, true), 6, 60, 12);
}

const char* kTools = R"([
  {"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
   "properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]},"days":{"type":"integer"}},
   "required":["city"]}}},
  {"type":"function","function":{"name":"noop"}}])";

TEST(ConstraintMatcher, MaskEqualsBruteForceOnToolCalls) {
  const JsonValue tools = JsonValue::parse(kTools);
  check_walks(compile_tool_calls(tools.as_array(), ""), 6, 80, 5);
  check_walks(compile_tool_calls(tools.as_array(), "get_weather"), 6, 80, 6);
}

TEST(ConstraintMatcher, ToolCallsAsTheTemplateWritesThemParseBack) {
  const JsonValue tools = JsonValue::parse(kTools);
  auto vocab = testing::test_vocab();
  Matcher m(compile_tool_calls(tools.as_array(), ""), vocab);
  const std::string body =
      "get_weather\">\n<parameter name=\"city\">Paris </parameter>\n<parameter "
      "name=\"days\">3</parameter>\n</invoke>\n<invoke name=\"noop\">\n</invoke>\n"
      "</minimax:tool_call>";
  ASSERT_TRUE(m.advance_bytes(body));
  EXPECT_TRUE(m.accepts());
  EXPECT_TRUE(m.advance_token(kEndId));
  const auto parsed = text::ToolCallParser::parse("<minimax:tool_call>\n<invoke name=\"" + body,
                                                  text::tools_from_json(tools), 1);
  ASSERT_EQ(parsed.calls.size(), 2u);
  EXPECT_EQ(parsed.calls[0].arguments, R"({"city": "Paris", "days": 3})");
  EXPECT_EQ(parsed.calls[1].arguments, "{}");

  Matcher refuse(compile_tool_calls(tools.as_array(), ""), vocab);
  EXPECT_FALSE(refuse.can_take("other\">"));                                    // not a tool
  EXPECT_FALSE(refuse.can_take("get_weather\">\n</invoke>"));                   // city is required
  EXPECT_FALSE(refuse.can_take("get_weather\">\n<parameter name=\"days\">x"));  // not an integer
  EXPECT_FALSE(refuse.can_take("get_weather\">\n<parameter name=\"city\">a</invoke>"));
  EXPECT_FALSE(refuse.can_take("get_weather\">\n<parameter name=\"unit\">k"));
  EXPECT_FALSE(refuse.advance_token(kEndId));  // not where the grammar may end
}

TEST(ConstraintMatcher, NamedToolAllowsOneCall) {
  const JsonValue tools = JsonValue::parse(kTools);
  Matcher m(compile_tool_calls(tools.as_array(), "noop"), testing::test_vocab());
  EXPECT_FALSE(m.can_take("</invoke>\n<invoke"));
  EXPECT_TRUE(m.advance_bytes("</invoke>\n</minimax:tool_call>"));
  EXPECT_TRUE(m.accepts());
}

TEST(ConstraintMatcher, StringsAreValidUtf8AndEscaped) {
  auto vocab = testing::test_vocab();
  auto grammar = schema_grammar(R"({"type":"string"})");
  Matcher m(grammar, vocab);
  EXPECT_TRUE(m.can_take("\"a\xC3\xA9\xE4\xB8\xAD\\\"\\u00e9\""));
  EXPECT_FALSE(m.can_take("\"\xC3\""));    // a cut character cannot end the string
  EXPECT_FALSE(m.can_take("\"\xB8"));      // a continuation byte cannot start one
  EXPECT_FALSE(m.can_take("\"\xED\xA0"));  // no surrogates
  EXPECT_FALSE(m.can_take("\"\xC0\xAF"));  // no overlongs
  EXPECT_FALSE(m.can_take("\"a\nb\""));    // control characters are escaped
  EXPECT_FALSE(m.can_take("\"\\x\""));     // no such escape
}

TEST(ConstraintMatcher, EndTokenOnlyWhereTheGrammarEnds) {
  auto vocab = testing::test_vocab();
  Matcher m(schema_grammar(R"({"type":"integer","minimum":10,"maximum":250})"), vocab);
  std::vector<uint32_t> mask(vocab->num_words());
  m.fill_mask(mask);
  EXPECT_EQ((mask[kEndId >> 5] >> (kEndId & 31)) & 1, 0u);
  EXPECT_FALSE(m.can_take("0"));
  EXPECT_FALSE(m.can_take("-"));
  EXPECT_FALSE(m.can_take("260"));
  EXPECT_TRUE(m.can_take("250"));
  EXPECT_FALSE(m.can_take("251"));
  EXPECT_FALSE(m.can_take("1000"));
  ASSERT_TRUE(m.advance_bytes("1"));
  EXPECT_FALSE(m.accepts());
  ASSERT_TRUE(m.advance_bytes("9"));
  EXPECT_TRUE(m.accepts());
  m.fill_mask(mask);
  EXPECT_EQ((mask[kEndId >> 5] >> (kEndId & 31)) & 1, 1u);
}

TEST(ConstraintMatcher, ReasoningRunsFreeUntilThinkEnds) {
  OutputSpec spec;
  spec.kind = OutputSpec::Kind::kChoice;
  spec.choices = {"yes", "no"};
  Matcher m(compile_output(spec, true), testing::test_vocab());
  EXPECT_TRUE(m.advance_bytes("I think {\"x\": no</thin"));
  EXPECT_FALSE(m.accepts());
  EXPECT_FALSE(m.can_take("k>maybe"));
  EXPECT_TRUE(m.advance_bytes("k>\n\nno"));
  EXPECT_TRUE(m.accepts());
}

TEST(ConstraintMatcher, GeneratedJsonParses) {
  auto texts = check_walks(
      schema_grammar(
          R"({"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"array","items":{"type":"number"}}},"required":["a","b"]})"),
      20, 80, 3);
  EXPECT_FALSE(texts.empty());
  for (const std::string& t : texts) {
    const JsonValue v = JsonValue::parse(t);
    EXPECT_TRUE(v.find("a") != nullptr && v.find("a")->is_bool()) << t;
    EXPECT_TRUE(v.find("b") != nullptr && v.find("b")->is_array()) << t;
  }
}

}  // namespace
}  // namespace mm::constraint
