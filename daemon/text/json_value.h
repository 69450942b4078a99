// A small JSON value for chat-template inputs, tool schemas and tool-call arguments: null, bool,
// integer, float, string, array, object with insertion-ordered keys (Python dict order matters for
// tojson). Arrays and objects are immutable and shared on copy. parse() is strict RFC 8259 JSON;
// dump() writes exactly what Python's json.dumps writes for the same options.
// Thread-safe: values are immutable; copies share storage read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mm::text {

class JsonValue;
using JsonArray = std::vector<JsonValue>;
using JsonObject = std::vector<std::pair<std::string, JsonValue>>;

// Options of Python's json.dumps (and Hugging Face's tojson filter).
struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<int> indent;          // nullopt: one line
  std::string item_separator = ", ";  // json.dumps default; ',' when indent is set
  std::string key_separator = ": ";
  bool sort_keys = false;
  static JsonDumpOptions python_default(std::optional<int> indent = std::nullopt);
  static JsonDumpOptions compact() { return {false, std::nullopt, ",", ":", false}; }
};

class JsonValue {
 public:
  enum class Type { kNull, kBool, kInt, kFloat, kString, kArray, kObject };

  JsonValue() = default;  // null
  JsonValue(std::nullptr_t) {}
  JsonValue(bool b) : data_(b) {}
  JsonValue(int v) : data_(static_cast<int64_t>(v)) {}
  JsonValue(int64_t v) : data_(v) {}
  JsonValue(double v) : data_(v) {}
  JsonValue(const char* s) : data_(std::string(s)) {}
  JsonValue(std::string s) : data_(std::move(s)) {}
  JsonValue(std::string_view s) : data_(std::string(s)) {}
  JsonValue(JsonArray items) : data_(std::make_shared<const JsonArray>(std::move(items))) {}
  JsonValue(JsonObject members) : data_(std::make_shared<const JsonObject>(std::move(members))) {}

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : as_float(); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const JsonArray& as_array() const { return *std::get<std::shared_ptr<const JsonArray>>(data_); }
  const JsonObject& as_object() const {
    return *std::get<std::shared_ptr<const JsonObject>>(data_);
  }

  // Object member by key (the last one when repeated); nullptr when absent or not an object.
  const JsonValue* find(std::string_view key) const;

  // Strict JSON; throws TextError naming `source` and the byte offset of the problem. Integers
  // that do not fit int64 become floats (as Python would keep them exact: documented difference).
  static JsonValue parse(std::string_view text, std::string_view source = "json");
  std::string dump(const JsonDumpOptions& options = JsonDumpOptions::python_default()) const;

  // Python equality (1 == 1.0, true == 1; arrays and objects element-wise, objects order-free).
  bool operator==(const JsonValue& other) const;

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, std::shared_ptr<const JsonArray>,
               std::shared_ptr<const JsonObject>>
      data_;
};

// Python's repr(float): shortest round-trip digits, exponent form outside 1e-4 <= |x| < 1e16.
std::string python_float_repr(double value);

// Appends `text` as a JSON string literal with json.dumps escaping.
void append_json_string(std::string_view text, bool ensure_ascii, std::string& out);

}  // namespace mm::text
