#include "daemon/text/jinja/value.h"

#include "daemon/text/error.h"

namespace mm::text::jinja {

namespace {
thread_local NamespaceRegistry* current_registry = nullptr;
}  // namespace

NamespaceRegistry::NamespaceRegistry() : outer_(current_registry) {
  current_registry = this;
}

NamespaceRegistry::~NamespaceRegistry() {
  current_registry = outer_;
  for (const std::weak_ptr<Namespace>& weak : made_) {
    if (std::shared_ptr<Namespace> ns = weak.lock()) {
      // Moved out first: destroying the attributes may release other namespaces.
      auto attributes = std::move(ns->attributes);
      ns->attributes.clear();
    }
  }
}

std::shared_ptr<Namespace> make_namespace() {
  auto ns = std::make_shared<Namespace>();
  if (current_registry != nullptr) current_registry->made_.push_back(ns);
  return ns;
}

Value* Namespace::find(std::string_view name) {
  for (auto& [key, value] : attributes) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool Value::truthy() const {
  if (is_undefined()) return false;
  if (!is_data()) return true;
  const JsonValue& d = data();
  switch (d.type()) {
    case JsonValue::Type::kNull:
      return false;
    case JsonValue::Type::kBool:
      return d.as_bool();
    case JsonValue::Type::kInt:
      return d.as_int() != 0;
    case JsonValue::Type::kFloat:
      return d.as_float() != 0.0;
    case JsonValue::Type::kString:
      return !d.as_string().empty();
    case JsonValue::Type::kArray:
      return !d.as_array().empty();
    case JsonValue::Type::kObject:
      return !d.as_object().empty();
  }
  return false;
}

std::string python_string_repr(std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back(quote);
  return out;
}

std::string python_repr(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::Type::kString:
      return python_string_repr(value.as_string());
    case JsonValue::Type::kArray: {
      std::string out = "[";
      bool first = true;
      for (const JsonValue& item : value.as_array()) {
        if (!first) out += ", ";
        first = false;
        out += python_repr(item);
      }
      return out + "]";
    }
    case JsonValue::Type::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : value.as_object()) {
        if (!first) out += ", ";
        first = false;
        out += python_string_repr(key) + ": " + python_repr(item);
      }
      return out + "}";
    }
    default:
      return python_str(value);
  }
}

std::string python_str(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::Type::kNull:
      return "None";
    case JsonValue::Type::kBool:
      return value.as_bool() ? "True" : "False";
    case JsonValue::Type::kInt:
      return std::to_string(value.as_int());
    case JsonValue::Type::kFloat:
      return python_float_repr(value.as_float());
    case JsonValue::Type::kString:
      return value.as_string();
    default:
      return python_repr(value);
  }
}

std::string Value::to_string() const {
  if (is_undefined()) return "";
  if (is_data()) return python_str(data());
  if (is_callable()) return "<function " + callable().name + ">";
  std::string out = "<Namespace {";
  bool first = true;
  for (const auto& [key, value] : ns().attributes) {
    if (!first) out += ", ";
    first = false;
    out += python_string_repr(key) + ": " + value.repr();
  }
  return out + "}>";
}

std::string Value::repr() const {
  if (is_undefined()) return "Undefined";
  if (is_data()) return python_repr(data());
  return to_string();
}

bool Value::equals(const Value& other) const {
  if (is_undefined() || other.is_undefined()) return is_undefined() && other.is_undefined();
  if (is_data() && other.is_data()) return data() == other.data();
  if (is_callable() && other.is_callable()) return &callable() == &other.callable();
  if (is_namespace() && other.is_namespace()) return &ns() == &other.ns();
  return false;
}

JsonValue Value::to_json(std::string_view where) const {
  if (is_data()) return data();
  if (is_namespace()) {
    JsonObject members;
    for (const auto& [key, value] : ns().attributes)
      members.emplace_back(key, value.to_json(where));
    return JsonValue(std::move(members));
  }
  if (is_undefined()) return JsonValue();  // stored in a container: becomes none
  throw TextError(std::string(where) + ": a " + type_name() + " cannot be used as data");
}

std::string Value::type_name() const {
  if (is_undefined()) return "undefined";
  if (is_callable()) return "function";
  if (is_namespace()) return "Namespace";
  switch (data().type()) {
    case JsonValue::Type::kNull:
      return "NoneType";
    case JsonValue::Type::kBool:
      return "bool";
    case JsonValue::Type::kInt:
      return "int";
    case JsonValue::Type::kFloat:
      return "float";
    case JsonValue::Type::kString:
      return "str";
    case JsonValue::Type::kArray:
      return "list";
    case JsonValue::Type::kObject:
      return "dict";
  }
  return "object";
}

}  // namespace mm::text::jinja
