#include "daemon/model/json_reader.h"

#include <cstdint>
#include <sstream>

#include "daemon/model/load_error.h"

namespace mm {

simdjson::dom::element parse_json_document(simdjson::dom::parser& parser, std::string_view text,
                                           const std::string& file) {
  simdjson::dom::element root;
  const auto error = parser.parse(text.data(), text.size()).get(root);
  if (error) {
    throw LoadError(file + ": malformed JSON (" + simdjson::error_message(error) + ")");
  }
  return root;
}

std::string_view json_type_name(simdjson::dom::element_type type) {
  using T = simdjson::dom::element_type;
  switch (type) {
    case T::ARRAY:
      return "array";
    case T::OBJECT:
      return "object";
    case T::INT64:
    case T::UINT64:
      return "integer";
    case T::DOUBLE:
      return "number";
    case T::STRING:
      return "string";
    case T::BOOL:
      return "boolean";
    case T::NULL_VALUE:
      return "null";
  }
  return "?";
}

JsonObjectReader::JsonObjectReader(simdjson::dom::element element, std::string file,
                                   std::string path)
    : file_(std::move(file)), path_(std::move(path)) {
  if (element.get(object_)) {
    throw LoadError(file_ + ": " + (path_.empty() ? std::string("document") : path_) +
                    " must be a JSON object, found " + std::string(json_type_name(element.type())));
  }
}

std::string JsonObjectReader::where(std::string_view key) const {
  std::string out = file_ + ": ";
  if (!path_.empty()) out += path_ + ".";
  out += key;
  return out;
}

void JsonObjectReader::fail(std::string_view key, const std::string& problem) const {
  throw LoadError(where(key) + ": " + problem);
}

std::optional<simdjson::dom::element> JsonObjectReader::get(std::string_view key) const {
  simdjson::dom::element value;
  if (object_.at_key(key).get(value)) return std::nullopt;
  return value;
}

bool JsonObjectReader::has(std::string_view key) const {
  return get(key).has_value();
}

bool JsonObjectReader::is_null(std::string_view key) const {
  auto value = get(key);
  return !value || value->is_null();
}

namespace {

std::string found(simdjson::dom::element value) {
  return "found " + std::string(json_type_name(value.type()));
}

}  // namespace

std::optional<std::string> JsonObjectReader::optional_string(std::string_view key) const {
  auto value = get(key);
  if (!value || value->is_null()) return std::nullopt;
  std::string_view text;
  if (value->get(text)) fail(key, "expected a string, " + found(*value));
  return std::string(text);
}

std::optional<int64_t> JsonObjectReader::optional_integer(std::string_view key) const {
  auto value = get(key);
  if (!value || value->is_null()) return std::nullopt;
  int64_t number;
  if (value->get(number)) {
    if (value->type() == simdjson::dom::element_type::UINT64) {
      fail(key, "integer out of range (above " + std::to_string(INT64_MAX) + ")");
    }
    // Some exporters write integral values as floats ("4096.0"). The range is checked before
    // the cast: converting a double outside int64 is undefined.
    double real;
    if (!value->get(real) && value->type() == simdjson::dom::element_type::DOUBLE) {
      if (!(real >= -9.2e18 && real <= 9.2e18)) {
        fail(key, "number " + std::to_string(real) + " is out of the integer range");
      }
      if (real == static_cast<double>(static_cast<int64_t>(real))) {
        return static_cast<int64_t>(real);
      }
    }
    fail(key, "expected an integer, " + found(*value));
  }
  return number;
}

void JsonObjectReader::check_range(std::string_view key, int64_t value, int64_t min,
                                   int64_t max) const {
  if (value < min || value > max) {
    fail(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], found " +
                  std::to_string(value));
  }
}

namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

void JsonObjectReader::check_range(std::string_view key, double value, double min,
                                   double max) const {
  if (!(value >= min && value <= max)) {  // NaN fails too
    fail(key, "must be in [" + number_text(min) + ", " + number_text(max) + "], found " +
                  number_text(value));
  }
}

std::optional<int64_t> JsonObjectReader::optional_integer_in(std::string_view key, int64_t min,
                                                             int64_t max) const {
  auto value = optional_integer(key);
  if (value) check_range(key, *value, min, max);
  return value;
}

int64_t JsonObjectReader::integer_in(std::string_view key, int64_t min, int64_t max) const {
  auto value = optional_integer_in(key, min, max);
  if (!value) fail(key, "missing");
  return *value;
}

std::optional<double> JsonObjectReader::optional_number_in(std::string_view key, double min,
                                                           double max) const {
  auto value = optional_number(key);
  if (value) check_range(key, *value, min, max);
  return value;
}

std::optional<double> JsonObjectReader::optional_number(std::string_view key) const {
  auto value = get(key);
  if (!value || value->is_null()) return std::nullopt;
  double number;
  if (value->get(number)) fail(key, "expected a number, " + found(*value));
  return number;
}

std::optional<bool> JsonObjectReader::optional_boolean(std::string_view key) const {
  auto value = get(key);
  if (!value || value->is_null()) return std::nullopt;
  bool flag;
  if (value->get(flag)) fail(key, "expected true or false, " + found(*value));
  return flag;
}

std::optional<JsonObjectReader> JsonObjectReader::optional_object(std::string_view key) const {
  auto value = get(key);
  if (!value || value->is_null()) return std::nullopt;
  if (!value->is_object()) fail(key, "expected an object, " + found(*value));
  return JsonObjectReader(*value, file_,
                          path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

std::string JsonObjectReader::string(std::string_view key) const {
  auto value = optional_string(key);
  if (!value) fail(key, "missing");
  return *value;
}

int64_t JsonObjectReader::integer(std::string_view key) const {
  auto value = optional_integer(key);
  if (!value) fail(key, "missing");
  return *value;
}

double JsonObjectReader::number(std::string_view key) const {
  auto value = optional_number(key);
  if (!value) fail(key, "missing");
  return *value;
}

bool JsonObjectReader::boolean(std::string_view key) const {
  auto value = optional_boolean(key);
  if (!value) fail(key, "missing");
  return *value;
}

JsonObjectReader JsonObjectReader::object(std::string_view key) const {
  auto value = optional_object(key);
  if (!value) fail(key, "missing");
  return *value;
}

std::vector<std::string> JsonObjectReader::string_list(std::string_view key) const {
  std::vector<std::string> out;
  auto value = get(key);
  if (!value || value->is_null()) return out;
  simdjson::dom::array array;
  if (value->get(array)) {
    // A single string is accepted where a list is expected (several exporters do this).
    std::string_view text;
    if (!value->get(text)) return {std::string(text)};
    fail(key, "expected a list of strings, " + found(*value));
  }
  size_t index = 0;
  for (simdjson::dom::element item : array) {
    std::string_view text;
    if (item.get(text)) {
      fail(key, "item " + std::to_string(index) + " must be a string, " + found(item));
    }
    out.emplace_back(text);
    ++index;
  }
  return out;
}

std::vector<int64_t> JsonObjectReader::integer_list(std::string_view key) const {
  std::vector<int64_t> out;
  auto value = get(key);
  if (!value || value->is_null()) return out;
  simdjson::dom::array array;
  if (value->get(array)) {
    int64_t number;
    if (!value->get(number)) return {number};
    fail(key, "expected a list of integers, " + found(*value));
  }
  size_t index = 0;
  for (simdjson::dom::element item : array) {
    int64_t number;
    if (item.get(number)) {
      fail(key, "item " + std::to_string(index) + " must be an integer, " + found(item));
    }
    out.push_back(number);
    ++index;
  }
  return out;
}

}  // namespace mm
