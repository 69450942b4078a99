// Evaluates a parsed template (internal to mm_text; the public entry point is jinja/template.h).
// One Interpreter per render call; it owns the scopes, namespaces and output of that render.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/text/jinja/ast.h"
#include "daemon/text/jinja/value.h"

namespace mm::text::jinja {

class Interpreter {
 public:
  Interpreter(std::string_view template_name, std::vector<std::pair<std::string, Value>> globals);
  std::string render(const Node& root);

  // Called by builtins for errors: "NAME:LINE:COLUMN: message".
  [[noreturn]] void fail(const Node& at, const std::string& what) const;

  // Filters, tests and methods (builtins.cpp).
  Value apply_filter(const Node& at, const std::string& name, Value input, std::vector<Value>& args,
                     KwArgs& kwargs);
  bool apply_test(const Node& at, const std::string& name, const Value& input,
                  std::vector<Value>& args);
  Value get_attr(const Node& at, const Value& object, const std::string& name);
  Value get_item(const Node& at, const Value& object, const Value& key);
  // Python iteration: list items, dict keys, string characters; undefined is empty.
  std::vector<Value> iterate(const Node& at, const Value& iterable);
  Value call(const Node& at, const Value& callee, std::vector<Value>& args, KwArgs& kwargs);

 private:
  struct Scope {
    std::vector<std::pair<std::string, Value>> vars;
    Scope* parent = nullptr;
    Value* find(std::string_view name);
    void set(const std::string& name, Value value);
  };
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec(const Node& node, Scope& scope);
  Flow exec_body(const Node& body, Scope& scope);
  Flow exec_for(const Node& node, Scope& scope);
  void exec_set(const Node& node, Scope& scope);
  void define_macro(const Node& node, Scope& scope);
  std::string capture(const Node& body, Scope& scope);

  Value eval(const Node& node, Scope& scope);
  Value eval_binary(const Node& node, const Value& lhs, const Value& rhs);
  Value eval_call(const Node& node, Scope& scope);
  // Evaluates the positional and keyword arguments of a call or filter node.
  void eval_arguments(const Node& node, Scope& scope, std::vector<Value>& args, KwArgs& kwargs);
  Value lookup(const Node& at, Scope& scope, const std::string& name);
  void check_defined(const Node& at, const Value& value) const;
  void count_step(const Node& at);

  std::string name_;
  std::vector<std::pair<std::string, Value>> globals_;
  Scope root_;
  std::string* out_ = nullptr;
  int call_depth_ = 0;
  int64_t num_steps_ = 0;
};

}  // namespace mm::text::jinja
