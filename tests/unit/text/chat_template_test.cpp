#include "daemon/text/chat_template.h"

#include <gtest/gtest.h>

#include "daemon/text/error.h"
#include "tests/unit/text/fixtures.h"

namespace mm::text {
namespace {

using testing::read_fixture;

std::string read_source(const std::string& repo_path) {
  std::ifstream in(std::string(MMD_SOURCE_DIR) + "/" + repo_path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ChatTemplateInputs inputs_of(const JsonValue& inputs) {
  ChatTemplateInputs out;
  if (const JsonValue* m = inputs.find("messages")) out.messages = *m;
  if (const JsonValue* t = inputs.find("tools")) out.tools = *t;
  if (const JsonValue* g = inputs.find("add_generation_prompt"))
    out.add_generation_prompt = g->as_bool();
  if (const JsonValue* e = inputs.find("extra")) out.extra = e->as_object();
  return out;
}

// Every case of tests/fixtures/text/template_cases.json (rendered by Python jinja2 through
// transformers' render_jinja_template) renders byte-identically, or fails where jinja2 raised.
TEST(ChatTemplate, MatchesJinja2Oracle) {
  const JsonValue cases =
      JsonValue::parse(read_fixture("template_cases.json"), "template_cases.json");
  ASSERT_GE(cases.as_array().size(), 40u);
  int num_checked = 0;
  for (const JsonValue& c : cases.as_array()) {
    const std::string name = c.find("name")->as_string();
    SCOPED_TRACE(name);
    const JsonValue* path = c.find("template");
    const std::string source =
        path ? read_source(path->as_string()) : c.find("source")->as_string();
    const ChatTemplate tmpl = ChatTemplate::from_source(source, name);
    const ChatTemplateInputs inputs = inputs_of(*c.find("inputs"));
    if (c.find("error")->as_bool()) {
      EXPECT_THROW(tmpl.render(inputs), TextError);
    } else {
      try {
        EXPECT_EQ(tmpl.render(inputs), c.find("expected")->as_string());
      } catch (const TextError& e) {
        ADD_FAILURE() << "render failed: " << e.what();
      }
    }
    ++num_checked;
  }
  EXPECT_EQ(num_checked, static_cast<int>(cases.as_array().size()));
}

TEST(ChatTemplate, EmbeddedMiniMaxTemplateIsTheSpecFile) {
  EXPECT_EQ(minimax_m2_default_template(),
            read_source("daemon/text/default_templates/minimax_m2.jinja"));
  EXPECT_EQ(minimax_m2_default_template().size(), 6482u);
  ChatTemplateInputs inputs;
  inputs.messages = JsonValue::parse(R"([{"role":"user","content":"hi"}])");
  inputs.add_generation_prompt = true;
  EXPECT_EQ(
      ChatTemplate::minimax_m2().render(inputs),
      "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]user\nhi[e~[\n]~b]ai\n<think>\n");
}

TEST(ChatTemplate, RaiseExceptionMessageIsReported) {
  ChatTemplateInputs inputs;
  inputs.messages =
      JsonValue::parse(R"([{"role":"user","content":"q"},{"role":"tool","content":"x"}])");
  try {
    ChatTemplate::minimax_m2().render(inputs);
    FAIL() << "expected an error";
  } catch (const TextError& e) {
    EXPECT_NE(std::string(e.what()).find("no previous assistant message with a tool call"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("minimax_m2.jinja:"), std::string::npos) << e.what();
  }
}

TEST(JinjaTemplate, UnsupportedSyntaxIsAnErrorWithLineAndColumn) {
  auto expect_error = [](const std::string& source, const std::string& needle) {
    try {
      JinjaTemplate::parse(source, "t.jinja");
      ADD_FAILURE() << "no error for: " << source;
    } catch (const TextError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("ok\n{% include 'x' %}", "t.jinja:2:4: unsupported tag 'include'");
  expect_error("{{ a + }}", "t.jinja:1:8: expected an expression");
  expect_error("{% if x %}never closed", "missing end tag");
  expect_error("{{ 'unterminated }}", "t.jinja:1:4: unterminated string literal");
  expect_error("{# open comment", "t.jinja:1:1: unterminated comment");
  expect_error("{% for x in y recursive %}{% endfor %}", "recursive");
  expect_error("{{ f(*args) }}", "not supported");
  expect_error("{% call foo() %}x{% endcall %}", "t.jinja:1:4: unsupported tag 'call'");
  // Integer literals beyond int64 (found by fuzz_jinja: `x.8888...` reached std::stoll).
  expect_error("{{ 99999999999999999999 }}", "t.jinja:1:4: integer literal out of range");
  expect_error("{{ m.99999999999999999999 }}", "t.jinja:1:6: integer literal out of range");
  expect_error("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}",
               "deeper than 200");
}

TEST(JinjaTemplate, RuntimeErrorsNameThePlace) {
  const JinjaTemplate t = JinjaTemplate::parse("line1\n  {{ 1 + 'a' }}", "r.jinja");
  try {
    t.render({});
    FAIL();
  } catch (const TextError& e) {
    EXPECT_NE(std::string(e.what()).find("r.jinja:2:8: unsupported operand types for +"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(JinjaTemplate::parse("{% for i in range(10000000) %}{% endfor %}").render({}),
               TextError);
  EXPECT_THROW(JinjaTemplate::parse("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").render({}),
               TextError);
  EXPECT_THROW(JinjaTemplate::parse("{{ 1 // 0 }}").render({}), TextError);
  EXPECT_THROW(JinjaTemplate::parse("{{ unknown | nosuchfilter }}").render({}), TextError);
}

// Namespaces holding each other (found by fuzz_jinja as a leak): the render works as Jinja2's
// does, and the cycle is broken when it ends (LeakSanitizer in the debug-asan preset checks).
TEST(JinjaTemplate, NamespaceCyclesRenderAndDoNotLeak) {
  EXPECT_EQ(JinjaTemplate::parse(
                "{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns.self.self.a }}")
                .render({}),
            "1");
  EXPECT_EQ(
      JinjaTemplate::parse("{% set a = namespace() %}{% set b = namespace(x=a) %}{% set a.y = b %}"
                           "{% for i in [1] %}{% set loop.ns = a %}{% set a.l = loop %}{% endfor %}"
                           "{{ a.y.x.y.x is defined }}")
          .render({}),
      "True");
  EXPECT_THROW(JinjaTemplate::parse("{% set ns = namespace() %}{% set ns.self = ns %}{{ 1 // 0 }}")
                   .render({}),
               TextError);
}

TEST(JinjaTemplate, NumbersBeyondInt64AreNotCrashes) {
  // int() of an unrepresentable float takes the filter's default, as a failed conversion does.
  EXPECT_EQ(JinjaTemplate::parse("{{ 1e300 | int }}|{{ 'nan' | int(7) }}").render({}), "0|7");
  // An attribute path with a huge index finds nothing, like any missing name, instead of
  // throwing out_of_range.
  EXPECT_EQ(
      JinjaTemplate::parse("{{ [[1]] | map(attribute='99999999999999999999') | list }}").render({}),
      JinjaTemplate::parse("{{ [[1]] | map(attribute='nosuch') | list }}").render({}));
}

}  // namespace
}  // namespace mm::text
