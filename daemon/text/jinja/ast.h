// Syntax tree of a parsed Jinja template: one node type with a kind tag, children in fixed slots
// per kind (documented below), and the source line/column for error messages.
// Thread-safe: immutable after parsing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/text/json_value.h"

namespace mm::text::jinja {

enum class NodeKind {
  // Statements
  kBody,      // children: statements
  kText,      // text
  kOutput,    // children[0]: expression
  kIf,        // children: cond0, body0, cond1, body1, ..., [else body when odd count]
  kFor,       // names: targets; children: iterable, body, else body|null, filter|null
  kSet,       // names: targets (or name + attribute when flag); children[0]: value
  kSetBlock,  // names: target; children[0]: body
  kMacro,     // text: name; names: params; children: body, default0|null, default1|null, ...
  kBreak,
  kContinue,
  kFilterBlock,  // children: body, filter expression whose input slot is null
  // Expressions
  kLiteral,   // literal
  kName,      // text
  kList,      // children: items
  kTuple,     // children: items
  kDict,      // children: key0, value0, key1, value1, ...
  kGetAttr,   // children[0]: object; text: attribute
  kGetItem,   // children: object, key
  kSlice,     // children: object, start|null, stop|null, step|null
  kCall,      // children: callee, args...; names: keyword names for the trailing args
  kFilter,    // text: filter name; children: input|null, args...; names: keyword names
  kTest,      // text: test name; flag: negated; children: input, args...
  kUnary,     // text: "-", "+", "not"; children[0]
  kBinary,    // text: operator (+ - * / // % ** ~ == != < > <= >= in notin); children: lhs, rhs
  kCompare,   // chained comparison a < b <= c: children: operands; names: operators
  kAnd,       // children: lhs, rhs
  kOr,        // children: lhs, rhs
  kCondExpr,  // children: then, cond, else|null
};

struct Node {
  NodeKind kind;
  int line = 0;
  int column = 0;
  std::string text;
  std::vector<std::string> names;
  JsonValue literal;
  bool flag = false;
  size_t num_keywords = 0;  // kCall/kFilter: how many trailing args are keyword args
  std::vector<std::unique_ptr<Node>> children;

  Node(NodeKind k, int l, int c) : kind(k), line(l), column(c) {}
  Node* child(size_t i) const { return i < children.size() ? children[i].get() : nullptr; }
};

using NodePtr = std::unique_ptr<Node>;

}  // namespace mm::text::jinja
