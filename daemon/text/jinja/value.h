// Runtime values of the Jinja engine: undefined, JSON data (none, bool, int, float, string, list,
// dict), callables (macros, filters bound as methods, globals) and namespaces (the only mutable
// value). Behaviour follows Python/Jinja2: truthiness, equality, str() and repr() text.
// Thread-safe: values other than namespaces are immutable; one render owns its namespaces.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "daemon/text/json_value.h"

namespace mm::text::jinja {

class Value;
using KwArgs = std::vector<std::pair<std::string, Value>>;

struct Undefined {
  std::string hint;  // why it is undefined, for the error when it is used ("'x' is undefined")
};

struct Callable {
  std::string name;
  std::function<Value(std::vector<Value>& args, KwArgs& kwargs)> call;
};

// `namespace(...)` objects and the `loop` variable: attributes that `set ns.x = ...` may change.
struct Namespace {
  std::vector<std::pair<std::string, Value>> attributes;
  Value* find(std::string_view name);
};

// Namespaces can hold each other (`set ns.a = ns`, `set loop.x = ns`), and shared ownership
// alone would leak such a cycle. Every namespace is made by make_namespace(); during a render a
// NamespaceRegistry on the rendering thread records them and, when the render ends (normally
// or by an error), empties the ones still alive, which breaks every cycle.
std::shared_ptr<Namespace> make_namespace();
class NamespaceRegistry {
 public:
  NamespaceRegistry();
  ~NamespaceRegistry();
  NamespaceRegistry(const NamespaceRegistry&) = delete;
  NamespaceRegistry& operator=(const NamespaceRegistry&) = delete;

 private:
  friend std::shared_ptr<Namespace> make_namespace();
  NamespaceRegistry* outer_;
  std::vector<std::weak_ptr<Namespace>> made_;
};

class Value {
 public:
  Value() : data_(Undefined{}) {}
  Value(Undefined u) : data_(std::move(u)) {}
  Value(JsonValue j) : data_(std::move(j)) {}
  Value(std::shared_ptr<Callable> c) : data_(std::move(c)) {}
  Value(std::shared_ptr<Namespace> n) : data_(std::move(n)) {}
  static Value none() { return Value(JsonValue()); }
  static Value of(bool b) { return Value(JsonValue(b)); }
  static Value of(int64_t i) { return Value(JsonValue(i)); }
  static Value of(double f) { return Value(JsonValue(f)); }
  static Value of(std::string s) { return Value(JsonValue(std::move(s))); }

  bool is_undefined() const { return std::holds_alternative<Undefined>(data_); }
  bool is_data() const { return std::holds_alternative<JsonValue>(data_); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<Callable>>(data_); }
  bool is_namespace() const { return std::holds_alternative<std::shared_ptr<Namespace>>(data_); }
  bool is_none() const { return is_data() && data().is_null(); }
  bool is_string() const { return is_data() && data().is_string(); }
  bool is_list() const { return is_data() && data().is_array(); }
  bool is_dict() const { return is_data() && data().is_object(); }
  bool is_int() const { return is_data() && data().is_int(); }
  bool is_bool() const { return is_data() && data().is_bool(); }
  bool is_number() const { return is_data() && (data().is_number() || data().is_bool()); }

  const JsonValue& data() const { return std::get<JsonValue>(data_); }
  const Undefined& undefined() const { return std::get<Undefined>(data_); }
  Callable& callable() const { return *std::get<std::shared_ptr<Callable>>(data_); }
  Namespace& ns() const { return *std::get<std::shared_ptr<Namespace>>(data_); }
  const std::string& str_data() const { return data().as_string(); }

  // Python truthiness (undefined is false).
  bool truthy() const;
  // Python str(): None, True, 1.5, "['a', 1]"; undefined is "".
  std::string to_string() const;
  // Python repr().
  std::string repr() const;
  // Python ==.
  bool equals(const Value& other) const;
  // The JSON data of the value, for containers and tojson; throws TextError for callables.
  JsonValue to_json(std::string_view where) const;
  // Jinja type name for error messages ("dict object", "undefined").
  std::string type_name() const;

 private:
  std::variant<Undefined, JsonValue, std::shared_ptr<Callable>, std::shared_ptr<Namespace>> data_;
};

// Python repr of a string ('...' unless it holds ' and no ").
std::string python_string_repr(std::string_view text);
// Python str() / repr() of JSON data.
std::string python_str(const JsonValue& value);
std::string python_repr(const JsonValue& value);

}  // namespace mm::text::jinja
