// Typed, error-naming access to the JSON files of a checkpoint (config.json, the shard index,
// safetensors headers) on top of simdjson's DOM. Owned by whoever parses; not thread-safe.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mm {

// Parses `text` as one JSON document; throws LoadError naming `file` when it is malformed.
// The returned element lives as long as `parser`.
simdjson::dom::element parse_json_document(simdjson::dom::parser& parser, std::string_view text,
                                           const std::string& file);

// Reads one object's fields, each error naming "<file>: <path>.<key>".
class JsonObjectReader {
 public:
  JsonObjectReader(simdjson::dom::element element, std::string file, std::string path);

  bool has(std::string_view key) const;
  bool is_null(std::string_view key) const;
  std::optional<simdjson::dom::element> get(std::string_view key) const;

  // Each throws if the key is missing or has another type.
  std::string string(std::string_view key) const;
  int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  JsonObjectReader object(std::string_view key) const;

  // Optional variants: nullopt when absent or null; throw on a wrong type.
  std::optional<std::string> optional_string(std::string_view key) const;
  std::optional<int64_t> optional_integer(std::string_view key) const;
  std::optional<double> optional_number(std::string_view key) const;
  std::optional<bool> optional_boolean(std::string_view key) const;
  std::optional<JsonObjectReader> optional_object(std::string_view key) const;
  // Range-checked variants: throw naming the key and the allowed range [min, max] when the
  // value is outside it (a number must also be finite).
  int64_t integer_in(std::string_view key, int64_t min, int64_t max) const;
  std::optional<int64_t> optional_integer_in(std::string_view key, int64_t min, int64_t max) const;
  std::optional<double> optional_number_in(std::string_view key, double min, double max) const;
  void check_range(std::string_view key, int64_t value, int64_t min, int64_t max) const;
  void check_range(std::string_view key, double value, double min, double max) const;
  std::vector<std::string> string_list(std::string_view key) const;  // [] when absent
  std::vector<int64_t> integer_list(std::string_view key) const;     // [] when absent

  simdjson::dom::object raw() const { return object_; }
  const std::string& file() const { return file_; }
  std::string where(std::string_view key) const;  // "<file>: <path>.<key>"
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const;

 private:
  simdjson::dom::object object_;
  std::string file_;
  std::string path_;
};

std::string_view json_type_name(simdjson::dom::element_type type);

}  // namespace mm
