#include "daemon/text/jinja/interpreter.h"

#include <cmath>

#include "daemon/text/error.h"
#include "daemon/text/jinja/string_ops.h"

namespace mm::text::jinja {
namespace {

// Limits that turn runaway templates into errors instead of hangs (a real chat template uses a
// tiny fraction of them).
constexpr int kMaxCallDepth = 100;
constexpr int64_t kMaxSteps = 1'000'000;       // loop iterations + macro calls per render
constexpr size_t kMaxOutputBytes = 64u << 20;  // 64 MiB of output or of one string
constexpr size_t kMaxListItems = 1'000'000;

bool is_numeric(const Value& v) {
  return v.is_number();
}
bool is_integral(const Value& v) {
  return v.is_int() || v.is_bool();
}
int64_t as_int64(const Value& v) {
  return v.is_bool() ? int64_t{v.data().as_bool()} : v.data().as_int();
}
double as_double(const Value& v) {
  return v.is_bool() ? (v.data().as_bool() ? 1.0 : 0.0) : v.data().as_number();
}

}  // namespace

Value* Interpreter::Scope::find(std::string_view name) {
  for (Scope* s = this; s != nullptr; s = s->parent) {
    for (auto& [key, value] : s->vars) {
      if (key == name) return &value;
    }
  }
  return nullptr;
}

void Interpreter::Scope::set(const std::string& name, Value value) {
  for (auto& [key, existing] : vars) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

Interpreter::Interpreter(std::string_view template_name,
                         std::vector<std::pair<std::string, Value>> globals)
    : name_(template_name), globals_(std::move(globals)) {}

void Interpreter::fail(const Node& at, const std::string& what) const {
  throw TextError(name_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                  what);
}

void Interpreter::count_step(const Node& at) {
  if (++num_steps_ > kMaxSteps)
    fail(at, "template exceeded the limit of 1,000,000 loop iterations and calls");
}

void Interpreter::check_defined(const Node& at, const Value& value) const {
  if (value.is_undefined()) {
    const std::string& hint = value.undefined().hint;
    fail(at, hint.empty() ? "value is undefined" : hint);
  }
}

std::string Interpreter::render(const Node& root) {
  NamespaceRegistry namespaces;  // breaks namespace cycles when the render ends
  std::string output;
  out_ = &output;
  root_.vars = {};
  exec_body(root, root_);
  root_.vars = {};
  return output;
}

std::string Interpreter::capture(const Node& body, Scope& scope) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  try {
    exec_body(body, scope);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

Interpreter::Flow Interpreter::exec_body(const Node& body, Scope& scope) {
  for (const auto& child : body.children) {
    const Flow flow = exec(*child, scope);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Node& node, Scope& scope) {
  switch (node.kind) {
    case NodeKind::kBody:
      return exec_body(node, scope);
    case NodeKind::kText:
      out_->append(node.text);
      break;
    case NodeKind::kOutput: {
      out_->append(eval(*node.children[0], scope).to_string());
      break;
    }
    case NodeKind::kIf: {
      const size_t n = node.children.size();
      for (size_t i = 0; i + 1 < n; i += 2) {
        if (eval(*node.children[i], scope).truthy()) return exec_body(*node.children[i + 1], scope);
      }
      if (n % 2 == 1) return exec_body(*node.children[n - 1], scope);
      break;
    }
    case NodeKind::kFor:
      return exec_for(node, scope);
    case NodeKind::kSet:
      exec_set(node, scope);
      break;
    case NodeKind::kSetBlock:
      scope.set(node.names[0], Value::of(capture(*node.children[0], scope)));
      break;
    case NodeKind::kMacro:
      define_macro(node, scope);
      break;
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
    case NodeKind::kFilterBlock: {
      Value text = Value::of(capture(*node.children[0], scope));
      const Node& filter = *node.children[1];
      std::vector<Value> args;
      KwArgs kwargs;
      const size_t first_kw = filter.children.size() - filter.num_keywords;
      for (size_t i = 1; i < filter.children.size(); ++i) {
        Value v = eval(*filter.children[i], scope);
        if (i >= first_kw) {
          kwargs.emplace_back(filter.names[i - first_kw], std::move(v));
        } else {
          args.push_back(std::move(v));
        }
      }
      out_->append(apply_filter(filter, filter.text, std::move(text), args, kwargs).to_string());
      break;
    }
    default:
      fail(node, "not a statement");
  }
  if (out_->size() > kMaxOutputBytes) fail(node, "template output exceeded 64 MiB");
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_for(const Node& node, Scope& scope) {
  const Node& iterable_node = *node.children[0];
  const Node& body = *node.children[1];
  const Node* else_body = node.child(2);
  const Node* filter = node.child(3);
  std::vector<Value> items = iterate(iterable_node, eval(iterable_node, scope));

  auto bind = [&](Scope& target, const Value& item) {
    if (node.names.size() == 1) {
      target.set(node.names[0], item);
      return;
    }
    std::vector<Value> parts = iterate(node, item);
    if (parts.size() != node.names.size()) {
      fail(node, "cannot unpack " + std::to_string(parts.size()) + " values into " +
                     std::to_string(node.names.size()) + " loop variables");
    }
    for (size_t i = 0; i < parts.size(); ++i)
      target.set(node.names[i], parts[i]);
  };

  if (filter != nullptr) {
    std::vector<Value> kept;
    for (const Value& item : items) {
      Scope probe{{}, &scope};
      bind(probe, item);
      if (eval(*filter, probe).truthy()) kept.push_back(item);
    }
    items.swap(kept);
  }
  if (items.empty()) {
    if (else_body != nullptr) return exec_body(*else_body, scope);
    return Flow::kNormal;
  }
  const auto length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    count_step(node);
    auto loop = make_namespace();
    auto& attrs = loop->attributes;
    attrs.emplace_back("index0", Value::of(i));
    attrs.emplace_back("index", Value::of(i + 1));
    attrs.emplace_back("revindex0", Value::of(length - i - 1));
    attrs.emplace_back("revindex", Value::of(length - i));
    attrs.emplace_back("first", Value::of(i == 0));
    attrs.emplace_back("last", Value::of(i == length - 1));
    attrs.emplace_back("length", Value::of(length));
    attrs.emplace_back("depth", Value::of(int64_t{1}));
    attrs.emplace_back("depth0", Value::of(int64_t{0}));
    attrs.emplace_back("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                                         : Value(Undefined{"there is no previous item"}));
    attrs.emplace_back("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                                  : Value(Undefined{"there is no next item"}));
    auto cycle = std::make_shared<Callable>();
    cycle->name = "cycle";
    cycle->call = [i](std::vector<Value>& args, KwArgs&) -> Value {
      if (args.empty()) throw TextError("loop.cycle: no items given");
      return args[static_cast<size_t>(i) % args.size()];
    };
    attrs.emplace_back("cycle", Value(cycle));
    Scope iteration{{}, &scope};
    iteration.set("loop", Value(loop));
    bind(iteration, items[static_cast<size_t>(i)]);
    const Flow flow = exec_body(body, iteration);
    if (flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::exec_set(const Node& node, Scope& scope) {
  Value value = eval(*node.children[0], scope);
  if (node.flag) {  // set ns.attr = value
    Value* target = scope.find(node.names[0]);
    if (target == nullptr || !target->is_namespace()) {
      fail(node, "cannot assign attribute '" + node.names[1] + "' on '" + node.names[0] +
                     "': it is not a namespace");
    }
    Namespace& ns = target->ns();
    if (Value* existing = ns.find(node.names[1])) {
      *existing = std::move(value);
    } else {
      ns.attributes.emplace_back(node.names[1], std::move(value));
    }
    return;
  }
  if (node.names.size() == 1) {
    scope.set(node.names[0], std::move(value));
    return;
  }
  std::vector<Value> parts = iterate(node, value);
  if (parts.size() != node.names.size()) fail(node, "cannot unpack values in set");
  for (size_t i = 0; i < parts.size(); ++i)
    scope.set(node.names[i], parts[i]);
}

void Interpreter::define_macro(const Node& node, Scope& scope) {
  auto macro = std::make_shared<Callable>();
  macro->name = node.text;
  const Node* def = &node;
  macro->call = [this, def](std::vector<Value>& args, KwArgs& kwargs) -> Value {
    if (++call_depth_ > kMaxCallDepth) {
      --call_depth_;
      fail(*def, "macro '" + def->text + "' nested deeper than 100 calls");
    }
    count_step(*def);
    struct DepthRestore {
      int& depth;
      ~DepthRestore() { --depth; }
    } restore{call_depth_};
    // Macros see the template's top-level variables at call time, plus their parameters.
    Scope frame{{}, &root_};
    const size_t num_params = def->names.size();
    if (args.size() > num_params) {
      fail(*def, "macro '" + def->text + "' takes " + std::to_string(num_params) +
                     " arguments, got " + std::to_string(args.size()));
    }
    for (size_t i = 0; i < num_params; ++i) {
      const std::string& param = def->names[i];
      Value value;
      bool bound = false;
      if (i < args.size()) {
        value = args[i];
        bound = true;
      }
      for (auto& [key, v] : kwargs) {
        if (key == param) {
          value = v;
          bound = true;
        }
      }
      if (!bound) {
        const Node* default_value = def->child(i + 1);
        value = default_value != nullptr
                    ? eval(*default_value, frame)
                    : Value(Undefined{"parameter '" + param + "' was not given"});
      }
      frame.set(param, std::move(value));
    }
    for (auto& [key, v] : kwargs) {
      bool known = false;
      for (const auto& param : def->names)
        known = known || param == key;
      if (!known) fail(*def, "macro '" + def->text + "' has no parameter named '" + key + "'");
    }
    return Value::of(capture(*def->children[0], frame));
  };
  scope.set(node.text, Value(macro));
}

Value Interpreter::lookup(const Node& at, Scope& scope, const std::string& name) {
  (void)at;
  if (Value* v = scope.find(name)) return *v;
  for (const auto& [key, value] : globals_) {
    if (key == name) return value;
  }
  return Value(Undefined{"'" + name + "' is undefined"});
}

Value Interpreter::eval(const Node& node, Scope& scope) {
  switch (node.kind) {
    case NodeKind::kLiteral:
      return Value(node.literal);
    case NodeKind::kName:
      return lookup(node, scope, node.text);
    case NodeKind::kList:
    case NodeKind::kTuple: {
      JsonArray items;
      for (const auto& child : node.children)
        items.push_back(eval(*child, scope).to_json(name_));
      return Value(JsonValue(std::move(items)));
    }
    case NodeKind::kDict: {
      JsonObject members;
      for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
        Value key = eval(*node.children[i], scope);
        if (!key.is_string())
          fail(*node.children[i], "dict keys must be strings, got " + key.type_name());
        JsonValue value = eval(*node.children[i + 1], scope).to_json(name_);
        bool replaced = false;
        for (auto& [k, v] : members) {
          if (k == key.str_data()) {
            v = value;
            replaced = true;
          }
        }
        if (!replaced) members.emplace_back(key.str_data(), std::move(value));
      }
      return Value(JsonValue(std::move(members)));
    }
    case NodeKind::kGetAttr:
      return get_attr(node, eval(*node.children[0], scope), node.text);
    case NodeKind::kGetItem:
      return get_item(node, eval(*node.children[0], scope), eval(*node.children[1], scope));
    case NodeKind::kSlice: {
      Value object = eval(*node.children[0], scope);
      check_defined(node, object);
      std::optional<int64_t> bounds[3];
      for (int i = 0; i < 3; ++i) {
        if (const Node* b = node.child(static_cast<size_t>(i) + 1)) {
          Value v = eval(*b, scope);
          if (v.is_none()) continue;
          if (!is_integral(v))
            fail(*b, "slice indices must be integers or None, got " + v.type_name());
          bounds[i] = as_int64(v);
        }
      }
      if (bounds[2] && *bounds[2] == 0) fail(node, "slice step cannot be zero");
      if (object.is_string()) {
        const auto cps = to_code_points(object.str_data());
        std::vector<uint32_t> picked;
        for (int64_t i :
             slice_indices(static_cast<int64_t>(cps.size()), bounds[0], bounds[1], bounds[2])) {
          picked.push_back(cps[static_cast<size_t>(i)]);
        }
        return Value::of(from_code_points(picked));
      }
      if (object.is_list()) {
        const JsonArray& items = object.data().as_array();
        JsonArray picked;
        for (int64_t i :
             slice_indices(static_cast<int64_t>(items.size()), bounds[0], bounds[1], bounds[2])) {
          picked.push_back(items[static_cast<size_t>(i)]);
        }
        return Value(JsonValue(std::move(picked)));
      }
      fail(node, "a " + object.type_name() + " cannot be sliced");
    }
    case NodeKind::kCall:
      return eval_call(node, scope);
    case NodeKind::kFilter: {
      Value input = eval(*node.children[0], scope);
      std::vector<Value> args;
      KwArgs kwargs;
      eval_arguments(node, scope, args, kwargs);
      return apply_filter(node, node.text, std::move(input), args, kwargs);
    }
    case NodeKind::kTest: {
      Value input = eval(*node.children[0], scope);
      std::vector<Value> args;
      for (size_t i = 1; i < node.children.size(); ++i)
        args.push_back(eval(*node.children[i], scope));
      return Value::of(apply_test(node, node.text, input, args) != node.flag);
    }
    case NodeKind::kUnary: {
      Value operand = eval(*node.children[0], scope);
      if (node.text == "not") return Value::of(!operand.truthy());
      check_defined(node, operand);
      if (!is_numeric(operand))
        fail(node, "bad operand type for unary " + node.text + ": '" + operand.type_name() + "'");
      if (node.text == "+") return is_integral(operand) ? Value::of(as_int64(operand)) : operand;
      if (is_integral(operand)) return Value::of(-as_int64(operand));
      return Value::of(-as_double(operand));
    }
    case NodeKind::kCompare: {
      Value lhs = eval(*node.children[0], scope);
      Value result = Value::of(true);
      for (size_t i = 0; i < node.names.size(); ++i) {
        Value rhs = eval(*node.children[i + 1], scope);
        Node op(NodeKind::kBinary, node.line, node.column);
        op.text = node.names[i];
        result = eval_binary(op, lhs, rhs);
        if (!result.truthy()) return result;
        lhs = std::move(rhs);
      }
      return result;
    }
    case NodeKind::kAnd: {
      Value lhs = eval(*node.children[0], scope);
      return lhs.truthy() ? eval(*node.children[1], scope) : lhs;
    }
    case NodeKind::kOr: {
      Value lhs = eval(*node.children[0], scope);
      return lhs.truthy() ? lhs : eval(*node.children[1], scope);
    }
    case NodeKind::kCondExpr: {
      if (eval(*node.children[1], scope).truthy()) return eval(*node.children[0], scope);
      if (const Node* otherwise = node.child(2)) return eval(*otherwise, scope);
      return Value(Undefined{"the conditional expression had no else branch"});
    }
    case NodeKind::kBinary:
      return eval_binary(node, eval(*node.children[0], scope), eval(*node.children[1], scope));
    default:
      fail(node, "not an expression");
  }
}

Value Interpreter::eval_call(const Node& node, Scope& scope) {
  Value callee = eval(*node.children[0], scope);
  std::vector<Value> args;
  KwArgs kwargs;
  eval_arguments(node, scope, args, kwargs);
  return call(node, callee, args, kwargs);
}

void Interpreter::eval_arguments(const Node& node, Scope& scope, std::vector<Value>& args,
                                 KwArgs& kwargs) {
  // children[0] is the callee or the filtered value; the last num_keywords are keywords.
  const size_t first_kw = node.children.size() - node.num_keywords;
  for (size_t i = 1; i < node.children.size(); ++i) {
    Value v = eval(*node.children[i], scope);
    if (i >= first_kw) {
      kwargs.emplace_back(node.names[i - first_kw], std::move(v));
    } else {
      args.push_back(std::move(v));
    }
  }
}

Value Interpreter::call(const Node& at, const Value& callee, std::vector<Value>& args,
                        KwArgs& kwargs) {
  if (callee.is_undefined()) check_defined(at, callee);
  if (!callee.is_callable()) fail(at, "'" + callee.type_name() + "' object is not callable");
  try {
    return callee.callable().call(args, kwargs);
  } catch (const TextError& e) {
    const std::string what = e.what();
    if (what.rfind(name_ + ":", 0) == 0) throw;  // already located
    fail(at, what);
  }
}

Value Interpreter::eval_binary(const Node& node, const Value& lhs, const Value& rhs) {
  const std::string& op = node.text;
  if (op == "~") {
    std::string joined = lhs.to_string() + rhs.to_string();
    if (joined.size() > kMaxOutputBytes) fail(node, "string result exceeded 64 MiB");
    return Value::of(std::move(joined));
  }
  if (op == "==") return Value::of(lhs.equals(rhs));
  if (op == "!=") return Value::of(!lhs.equals(rhs));
  if (op == "in" || op == "notin") {
    bool found = false;
    if (rhs.is_undefined()) {
      found = false;
    } else if (rhs.is_string()) {
      if (!lhs.is_string())
        fail(node, "'in <string>' requires string as left operand, not " + lhs.type_name());
      found = rhs.str_data().find(lhs.str_data()) != std::string::npos;
    } else if (rhs.is_list()) {
      for (const JsonValue& item : rhs.data().as_array())
        found = found || lhs.equals(Value(item));
    } else if (rhs.is_dict()) {
      found = lhs.is_string() && rhs.data().find(lhs.str_data()) != nullptr;
    } else if (rhs.is_namespace()) {
      found = lhs.is_string() && rhs.ns().find(lhs.str_data()) != nullptr;
    } else {
      fail(node, "argument of type '" + rhs.type_name() + "' is not iterable");
    }
    return Value::of(op == "in" ? found : !found);
  }
  check_defined(node, lhs);
  check_defined(node, rhs);
  auto unsupported = [&]() {
    fail(node, "unsupported operand types for " + op + ": '" + lhs.type_name() + "' and '" +
                   rhs.type_name() + "'");
  };
  if (op == "<" || op == ">" || op == "<=" || op == ">=") {
    int cmp = 0;
    if (is_numeric(lhs) && is_numeric(rhs)) {
      if (is_integral(lhs) && is_integral(rhs)) {
        cmp = as_int64(lhs) < as_int64(rhs) ? -1 : (as_int64(lhs) > as_int64(rhs) ? 1 : 0);
      } else {
        const double a = as_double(lhs), b = as_double(rhs);
        cmp = a < b ? -1 : (a > b ? 1 : 0);
        if (std::isnan(a) || std::isnan(b)) return Value::of(false);
      }
    } else if (lhs.is_string() && rhs.is_string()) {
      cmp = lhs.str_data().compare(rhs.str_data());
    } else {
      fail(node, "'" + op + "' not supported between instances of '" + lhs.type_name() + "' and '" +
                     rhs.type_name() + "'");
    }
    if (op == "<") return Value::of(cmp < 0);
    if (op == ">") return Value::of(cmp > 0);
    if (op == "<=") return Value::of(cmp <= 0);
    return Value::of(cmp >= 0);
  }
  if (op == "+") {
    if (lhs.is_string() && rhs.is_string()) {
      if (lhs.str_data().size() + rhs.str_data().size() > kMaxOutputBytes)
        fail(node, "string result exceeded 64 MiB");
      return Value::of(lhs.str_data() + rhs.str_data());
    }
    if (lhs.is_list() && rhs.is_list()) {
      if (lhs.data().as_array().size() + rhs.data().as_array().size() > kMaxListItems) {
        fail(node, "list result exceeded 1,000,000 items");
      }
      JsonArray items = lhs.data().as_array();
      for (const JsonValue& v : rhs.data().as_array())
        items.push_back(v);
      return Value(JsonValue(std::move(items)));
    }
  }
  if (op == "*") {
    const Value* seq = lhs.is_string() || lhs.is_list()
                           ? &lhs
                           : (rhs.is_string() || rhs.is_list() ? &rhs : nullptr);
    const Value* count = seq == &lhs ? &rhs : &lhs;
    if (seq != nullptr && is_integral(*count)) {
      const int64_t n = std::max<int64_t>(0, as_int64(*count));
      const size_t unit = seq->is_string() ? seq->str_data().size() : seq->data().as_array().size();
      const uint64_t limit = seq->is_string() ? kMaxOutputBytes : kMaxListItems;
      if (unit > 0 && static_cast<uint64_t>(n) > limit / unit)
        fail(node, "repetition result too large");
      if (seq->is_string()) {
        std::string out;
        for (int64_t i = 0; i < n; ++i)
          out += seq->str_data();
        return Value::of(std::move(out));
      }
      JsonArray items;
      for (int64_t i = 0; i < n; ++i) {
        for (const JsonValue& v : seq->data().as_array())
          items.push_back(v);
      }
      return Value(JsonValue(std::move(items)));
    }
  }
  if (op == "%" && lhs.is_string()) {
    // printf-style formatting: %s, %d, %i, %r, %%.
    std::vector<Value> values;
    if (rhs.is_list()) {
      for (const JsonValue& v : rhs.data().as_array())
        values.emplace_back(v);
    } else {
      values.push_back(rhs);
    }
    std::string out;
    size_t next = 0;
    const std::string& fmt = lhs.str_data();
    for (size_t i = 0; i < fmt.size(); ++i) {
      if (fmt[i] != '%') {
        out.push_back(fmt[i]);
        continue;
      }
      if (i + 1 >= fmt.size()) fail(node, "incomplete format");
      const char spec = fmt[++i];
      if (spec == '%') {
        out.push_back('%');
        continue;
      }
      if (next >= values.size()) fail(node, "not enough arguments for format string");
      const Value& v = values[next++];
      if (spec == 's')
        out += v.to_string();
      else if (spec == 'r')
        out += v.repr();
      else if ((spec == 'd' || spec == 'i') && is_numeric(v))
        out += std::to_string(is_integral(v) ? as_int64(v) : static_cast<int64_t>(as_double(v)));
      else
        fail(node, std::string("unsupported format character '") + spec + "'");
    }
    if (next < values.size()) fail(node, "not all arguments converted during string formatting");
    return Value::of(std::move(out));
  }
  if (!is_numeric(lhs) || !is_numeric(rhs)) unsupported();
  const bool ints = is_integral(lhs) && is_integral(rhs);
  if (op == "/") {
    if (as_double(rhs) == 0) fail(node, "division by zero");
    return Value::of(as_double(lhs) / as_double(rhs));
  }
  if (ints) {
    const int64_t a = as_int64(lhs), b = as_int64(rhs);
    int64_t r = 0;
    if (op == "+") {
      if (__builtin_add_overflow(a, b, &r)) fail(node, "integer overflow");
      return Value::of(r);
    }
    if (op == "-") {
      if (__builtin_sub_overflow(a, b, &r)) fail(node, "integer overflow");
      return Value::of(r);
    }
    if (op == "*") {
      if (__builtin_mul_overflow(a, b, &r)) fail(node, "integer overflow");
      return Value::of(r);
    }
    if (op == "//" || op == "%") {
      if (b == 0) fail(node, "integer division or modulo by zero");
      if (a == INT64_MIN && b == -1) fail(node, "integer overflow");
      int64_t q = a / b;
      int64_t m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) {
        --q;
        m += b;
      }
      return Value::of(op == "//" ? q : m);
    }
    if (op == "**") {
      if (b < 0) return Value::of(std::pow(static_cast<double>(a), static_cast<double>(b)));
      if (a == 0 || a == 1) return Value::of(b == 0 ? int64_t{1} : a);
      if (a == -1) return Value::of(b % 2 == 0 ? int64_t{1} : int64_t{-1});
      int64_t result = 1;  // |a| >= 2 overflows within 63 steps
      for (int64_t i = 0; i < b; ++i) {
        if (__builtin_mul_overflow(result, a, &result)) fail(node, "integer overflow");
      }
      return Value::of(result);
    }
  }
  const double a = as_double(lhs), b = as_double(rhs);
  if (op == "+") return Value::of(a + b);
  if (op == "-") return Value::of(a - b);
  if (op == "*") return Value::of(a * b);
  if (op == "**") return Value::of(std::pow(a, b));
  if (op == "//" || op == "%") {
    if (b == 0) fail(node, "float division or modulo by zero");
    const double q = std::floor(a / b);
    return Value::of(op == "//" ? q : a - q * b);
  }
  unsupported();
  return Value();
}

}  // namespace mm::text::jinja
