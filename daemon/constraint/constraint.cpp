#include "daemon/constraint/constraint.h"

#include <algorithm>

#include "daemon/constraint/schema_compiler.h"
#include "daemon/text/tool_schema.h"

namespace mm::constraint {

using text::ChatRequestError;
using text::JsonValue;

std::shared_ptr<const Grammar> compile_output(const OutputSpec& spec, bool after_reasoning) {
  auto grammar = std::make_shared<Grammar>();
  Grammar& g = *grammar;
  int32_t body = -1;
  switch (spec.kind) {
    case OutputSpec::Kind::kText:
      throw std::invalid_argument("compile_output: free text has no grammar");
    case OutputSpec::Kind::kJsonObject:
      body = compile_any_json(g, true);
      break;
    case OutputSpec::Kind::kJsonSchema:
      body = compile_schema(g, spec.schema, spec.where);
      break;
    case OutputSpec::Kind::kRegex:
      body = compile_regex(g, spec.regex, spec.where, false, false);
      break;
    case OutputSpec::Kind::kChoice: {
      if (spec.choices.empty()) throw ChatRequestError(spec.where, "must list at least one choice");
      std::vector<int32_t> options;
      for (size_t i = 0; i < spec.choices.size(); ++i) {
        if (spec.choices[i].empty())
          throw ChatRequestError(spec.where + "[" + std::to_string(i) + "]", "is empty");
        options.push_back(g.add_literal(spec.choices[i]));
      }
      body = g.add_choice(std::move(options));
      break;
    }
  }
  if (after_reasoning) {
    // The reasoning runs free up to `</think>`; the model's usual blank line may follow.
    std::bitset<256> blank;
    blank.set(' ');
    blank.set('\n');
    body = g.add_seq({g.add_dfa(until_dfa("</think>", {}, false)),
                      g.add_repeat(g.add_class(blank), 0, 2), body});
  }
  g.set_root(body);
  return grammar;
}

std::shared_ptr<const Grammar> compile_tool_calls(const text::JsonArray& tools,
                                                  const std::string& named,
                                                  const std::string& where) {
  auto grammar = std::make_shared<Grammar>();
  Grammar& g = *grammar;
  // One call's body after `<invoke name="NAME">\n`, as the template writes it:
  //   <parameter name="K">V</parameter>\n ... </invoke>\n
  auto invoke_body = [&](const JsonValue& tool, const std::string& at) {
    const JsonValue* function = tool.find("function");
    const JsonValue& f = function != nullptr ? *function : tool;
    const std::string at_f = function != nullptr ? at + ".function" : at;
    const JsonValue* parameters = f.find("parameters");
    std::vector<int32_t> seq;
    if (parameters != nullptr && !parameters->is_null()) {
      const std::string at_p = at_f + ".parameters";
      if (!parameters->is_object()) throw ChatRequestError(at_p, "must be a JSON Schema object");
      for (const auto& [key, v] : parameters->as_object()) {
        if (key != "type" && key != "properties" && key != "required" &&
            key != "additionalProperties" && key != "description" && key != "title" &&
            key != "$schema" && key != "$defs" && key != "definitions" && key != "$id" &&
            key != "$comment" && key != "examples" && key != "default")
          throw ChatRequestError(at_p + "." + key,
                                 "is not supported in tool parameters by constrained decoding");
      }
      std::vector<std::string> required;
      if (const JsonValue* r = parameters->find("required"); r != nullptr && r->is_array()) {
        for (const JsonValue& name : r->as_array()) {
          if (name.is_string()) required.push_back(name.as_string());
        }
      }
      std::vector<std::string> declared;
      auto parameter = [&](const std::string& name, const JsonValue& schema,
                           const std::string& at_s) {
        // $refs resolve against the parameters object (where $defs live).
        const int32_t value =
            compile_schema(g, schema, at_s, ValueMode::kToolParameter, parameters, at_p);
        const int32_t p = g.add_seq(
            {g.add_literal("<parameter name=\"" + name + "\">"), value, g.add_literal("\n")});
        const bool is_required =
            std::find(required.begin(), required.end(), name) != required.end();
        seq.push_back(is_required ? p : g.add_repeat(p, 0, 1));
        declared.push_back(name);
      };
      if (const JsonValue* props = parameters->find("properties")) {
        if (!props->is_object()) throw ChatRequestError(at_p + ".properties", "must be an object");
        for (const auto& [name, schema] : props->as_object())
          parameter(name, schema, at_p + ".properties." + name);
      }
      for (const std::string& name : required) {
        if (std::find(declared.begin(), declared.end(), name) == declared.end())
          parameter(name, JsonValue(true), at_p + ".required");
      }
    }
    seq.push_back(g.add_literal("</invoke>\n"));
    return g.add_seq(std::move(seq));
  };
  const int32_t close = g.add_literal("</minimax:tool_call>");
  if (!named.empty()) {
    for (size_t i = 0; i < tools.size(); ++i) {
      if (text::tool_name(tools[i]) == named) {
        g.set_root(
            g.add_seq({invoke_body(tools[i], where + "[" + std::to_string(i) + "]"), close}));
        return grammar;
      }
    }
    throw ChatRequestError("tool_choice", "names '" + named + "', which is not in 'tools'");
  }
  std::vector<int32_t> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string name = text::tool_name(tools[i]);
    if (name.empty()) continue;
    calls.push_back(g.add_seq({g.add_literal(name + "\">\n"),
                               invoke_body(tools[i], where + "[" + std::to_string(i) + "]")}));
  }
  if (calls.empty()) throw ChatRequestError(where, "has no named tool to call");
  const int32_t call = g.add_choice(std::move(calls));
  const int32_t more = g.add_repeat(g.add_seq({g.add_literal("<invoke name=\""), call}), 0, -1);
  g.set_root(g.add_seq({call, more, close}));
  return grammar;
}

namespace {

// What decides a request's grammar; empty when it has none.
std::string constraint_key(const text::ChatRequest& request, bool reasoning_first) {
  if (request.tool_choice == text::ToolChoice::kRequired ||
      request.tool_choice == text::ToolChoice::kNamed) {
    return std::string("tools\n") +
           (request.tool_choice == text::ToolChoice::kNamed ? request.tool_choice_name : "") +
           "\n" + JsonValue(request.tools).dump(text::JsonDumpOptions::compact());
  }
  const OutputSpec& o = request.output;
  if (o.kind == OutputSpec::Kind::kText) return {};
  std::string key = "output\n" + std::to_string(static_cast<int>(o.kind)) +
                    (reasoning_first ? "r\n" : "\n") + o.where + "\n";
  switch (o.kind) {
    case OutputSpec::Kind::kJsonSchema:
      return key + o.schema.dump(text::JsonDumpOptions::compact());
    case OutputSpec::Kind::kRegex:
      return key + o.regex;
    case OutputSpec::Kind::kChoice:
      return key + JsonValue(text::JsonArray(o.choices.begin(), o.choices.end()))
                       .dump(text::JsonDumpOptions::compact());
    default:
      return key;
  }
}

}  // namespace

std::shared_ptr<TokenConstraint> ConstraintCache::make(const text::ChatRequest& request,
                                                       std::shared_ptr<const VocabIndex> vocab,
                                                       bool reasoning_first) {
  const std::string key = constraint_key(request, reasoning_first);
  if (key.empty()) return nullptr;
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      it->second.second = ++clock_;
      return std::make_shared<TokenMatcher>(*it->second.first);
    }
  }
  auto made = make_chat_constraint(request, std::move(vocab), reasoning_first);
  auto prototype = std::make_shared<const Matcher>(static_cast<TokenMatcher&>(*made).matcher());
  std::lock_guard lock(mutex_);
  if (entries_.size() >= capacity_) {
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.second < b.second.second; });
    entries_.erase(oldest);
  }
  entries_.emplace(key, std::make_pair(std::move(prototype), ++clock_));
  return made;
}

void prewarm(const VocabIndex& vocab) {
  Grammar g;
  const int32_t string_body = g.add_dfa(json_string_body_dfa());
  const int32_t raw = g.add_dfa(
      until_dfa("</parameter>", {"<parameter name=", "</invoke>", "</minimax:tool_call>"}, true));
  const int32_t reasoning = g.add_dfa(until_dfa("</think>", {}, false));
  // Every state the matcher would ask for (those letting most bytes through), not just the
  // first: a value's first `<` or a cut character would otherwise cost a whole-trie walk.
  for (int32_t node : {string_body, raw, reasoning}) {
    const Dfa& dfa = g.dfa(g.node(node).dfa);
    for (size_t q = 0; q < dfa.next.size(); ++q) {
      const auto live =
          std::count_if(dfa.next[q].begin(), dfa.next[q].end(), [](int16_t t) { return t >= 0; });
      if (live >= kMinInsideBytes) vocab.inside(dfa, static_cast<int>(q));
    }
  }
}

std::shared_ptr<TokenConstraint> make_chat_constraint(const text::ChatRequest& request,
                                                      std::shared_ptr<const VocabIndex> vocab,
                                                      bool reasoning_first) {
  std::shared_ptr<const Grammar> grammar;
  if (request.tool_choice == text::ToolChoice::kRequired ||
      request.tool_choice == text::ToolChoice::kNamed) {
    grammar = compile_tool_calls(request.tools, request.tool_choice == text::ToolChoice::kNamed
                                                    ? request.tool_choice_name
                                                    : "");
  } else if (request.output.kind != OutputSpec::Kind::kText) {
    grammar = compile_output(request.output, reasoning_first);
  } else {
    return nullptr;
  }
  return std::make_shared<TokenMatcher>(std::move(grammar), std::move(vocab));
}

}  // namespace mm::constraint
