// The schema corpus (tests/fixtures/constraint/schemas.json: real agent tool schemas and
// structured-output schemas): each compiles; its valid instances, written as json.dumps writes
// them, are accepted byte for byte; its invalid ones are refused. Unsupported keywords are
// refused naming their path (unsupported.json).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "daemon/constraint/constraint.h"
#include "daemon/text/json_value.h"
#include "tests/unit/constraint/test_vocab.h"

namespace mm::constraint {
namespace {

using text::JsonValue;

JsonValue read_fixture(const std::string& name) {
  std::ifstream in(std::string(MMD_CONSTRAINT_FIXTURES) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return JsonValue::parse(text.str(), name);
}

bool accepts_whole(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  Matcher m(g, testing::test_vocab());
  return m.advance_bytes(text) && m.accepts();
}

TEST(ConstraintSchemas, CorpusCompilesAndMatchesItsInstances) {
  const JsonValue corpus = read_fixture("schemas.json");
  ASSERT_GE(corpus.as_array().size(), 50u);
  for (const JsonValue& entry : corpus.as_array()) {
    const std::string name = entry.find("name")->as_string();
    SCOPED_TRACE(name);
    OutputSpec spec;
    spec.kind = OutputSpec::Kind::kJsonSchema;
    spec.schema = *entry.find("schema");
    spec.where = "schema";
    std::shared_ptr<const Grammar> g;
    ASSERT_NO_THROW(g = compile_output(spec, false));
    const JsonValue* valid = entry.find("valid");
    ASSERT_TRUE(valid != nullptr && !valid->as_array().empty());
    for (const JsonValue& v : valid->as_array())
      EXPECT_TRUE(accepts_whole(g, v.dump())) << v.dump();
    if (const JsonValue* invalid = entry.find("invalid")) {
      for (const JsonValue& v : invalid->as_array())
        EXPECT_FALSE(accepts_whole(g, v.dump())) << v.dump();
    }
  }
}

TEST(ConstraintSchemas, UnsupportedKeywordsNameTheirPath) {
  const JsonValue cases = read_fixture("unsupported.json");
  for (const JsonValue& c : cases.as_array()) {
    OutputSpec spec;
    spec.kind = OutputSpec::Kind::kJsonSchema;
    spec.schema = *c.find("schema");
    spec.where = "response_format.json_schema.schema";
    try {
      compile_output(spec, false);
      ADD_FAILURE() << "accepted " << spec.schema.dump();
    } catch (const text::ChatRequestError& error) {
      EXPECT_EQ(error.field(), c.find("path")->as_string()) << error.what();
    }
  }
}

TEST(ConstraintSchemas, RegexSubset) {
  OutputSpec spec;
  spec.kind = OutputSpec::Kind::kRegex;
  spec.where = "guided_regex";
  spec.regex = R"(\d{3}-[A-Z]{2}(x|yz)*)";
  auto g = compile_output(spec, false);
  EXPECT_TRUE(accepts_whole(g, "123-AB"));
  EXPECT_TRUE(accepts_whole(g, "123-ABxyzx"));
  EXPECT_FALSE(accepts_whole(g, "12-AB"));
  EXPECT_FALSE(accepts_whole(g, "123-ABy"));
  for (const char* bad : {"(?=a)", "a**", "\\b", "[z-a]", "(a", "a{2,1}", "\\1"}) {
    spec.regex = bad;
    EXPECT_THROW(compile_output(spec, false), text::ChatRequestError) << bad;
  }
}

TEST(ConstraintSchemas, ToolParametersRefuseUnsupportedKeywords) {
  const JsonValue tools = JsonValue::parse(
      R"([{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"string","not":{}}}}}}])");
  try {
    compile_tool_calls(tools.as_array(), "");
    ADD_FAILURE();
  } catch (const text::ChatRequestError& error) {
    EXPECT_EQ(error.field(), "tools[0].function.parameters.properties.x.not");
  }
}

}  // namespace
}  // namespace mm::constraint
