#include "daemon/text/tool_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "daemon/text/error.h"

namespace mm::text {
namespace {

void add_type(std::vector<std::string>& out, const std::string& type) {
  if (std::find(out.begin(), out.end(), type) == out.end()) out.push_back(type);
}

void collect_types(const JsonValue& schema, std::vector<std::string>& out, int depth) {
  if (!schema.is_object() || depth > 16) return;
  if (const JsonValue* type = schema.find("type")) {
    if (type->is_string()) add_type(out, type->as_string());
    if (type->is_array()) {
      for (const JsonValue& t : type->as_array()) {
        if (t.is_string()) add_type(out, t.as_string());
      }
    }
  }
  if (const JsonValue* values = schema.find("enum"); values != nullptr && values->is_array()) {
    for (const JsonValue& v : values->as_array()) {
      switch (v.type()) {
        case JsonValue::Type::kNull:
          add_type(out, "null");
          break;
        case JsonValue::Type::kBool:
          add_type(out, "boolean");
          break;
        case JsonValue::Type::kInt:
          add_type(out, "integer");
          break;
        case JsonValue::Type::kFloat:
          add_type(out, "number");
          break;
        case JsonValue::Type::kString:
          add_type(out, "string");
          break;
        case JsonValue::Type::kArray:
          add_type(out, "array");
          break;
        case JsonValue::Type::kObject:
          add_type(out, "object");
          break;
      }
    }
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"}) {
    if (const JsonValue* list = schema.find(key); list != nullptr && list->is_array()) {
      for (const JsonValue& member : list->as_array())
        collect_types(member, out, depth + 1);
    }
  }
}

const JsonValue* parameter_schema(const ToolSchema* tool, std::string_view parameter) {
  if (tool == nullptr) return nullptr;
  const JsonValue* properties = tool->parameters.find("properties");
  return properties ? properties->find(parameter) : nullptr;
}

bool has(const std::vector<std::string>& types, std::string_view t) {
  return std::find(types.begin(), types.end(), t) != types.end();
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::vector<ToolSchema> tools_from_json(const JsonValue& tools) {
  std::vector<ToolSchema> out;
  if (!tools.is_array()) return out;
  size_t index = 0;
  for (const JsonValue& tool : tools.as_array()) {
    const JsonValue* function = tool.find("function");
    const JsonValue& f = function != nullptr ? *function : tool;
    const JsonValue* name = f.find("name");
    if (name == nullptr || !name->is_string()) {
      throw TextError("tools[" + std::to_string(index) + "]: missing function name");
    }
    const JsonValue* parameters = f.find("parameters");
    out.push_back({name->as_string(), parameters != nullptr ? *parameters : JsonValue()});
    ++index;
  }
  return out;
}

std::vector<std::string> allowed_types(const JsonValue& parameter_schema) {
  std::vector<std::string> out;
  collect_types(parameter_schema, out, 0);
  return out;
}

bool is_string_only(const ToolSchema* tool, std::string_view parameter) {
  const JsonValue* schema = parameter_schema(tool, parameter);
  if (schema == nullptr) return true;
  const auto types = allowed_types(*schema);
  return types.empty() || (types.size() == 1 && types[0] == "string");
}

JsonValue coerce_parameter(const ToolSchema* tool, std::string_view parameter,
                           std::string_view raw) {
  const JsonValue* schema = parameter_schema(tool, parameter);
  std::vector<std::string> types = schema ? allowed_types(*schema) : std::vector<std::string>{};
  if (types.empty()) types.push_back("string");
  const std::string low = lower(raw);
  if (has(types, "null") && (low == "null" || low == "none" || low == "nil")) return JsonValue();
  if (has(types, "integer")) {
    int64_t v = 0;
    const char* begin = raw.data();
    if (!raw.empty() && raw[0] == '+') ++begin;
    auto r = std::from_chars(begin, raw.data() + raw.size(), v);
    if (r.ec == std::errc() && r.ptr == raw.data() + raw.size() && !raw.empty())
      return JsonValue(v);
  }
  if (has(types, "number")) {
    try {
      JsonValue parsed = JsonValue::parse(raw);
      if (parsed.is_number()) {
        const double d = parsed.as_number();
        if (parsed.is_float() && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
          return JsonValue(static_cast<int64_t>(d));  // integral floats become ints (vLLM)
        }
        return parsed;
      }
    } catch (const TextError&) {
    }
  }
  if (has(types, "boolean")) {
    if (low == "true" || low == "1" || low == "yes" || low == "on") return JsonValue(true);
    if (low == "false" || low == "0" || low == "no" || low == "off") return JsonValue(false);
  }
  if (has(types, "object") || has(types, "array")) {
    try {
      JsonValue parsed = JsonValue::parse(raw);
      if ((parsed.is_object() && has(types, "object")) ||
          (parsed.is_array() && has(types, "array")))
        return parsed;
    } catch (const TextError&) {
    }
  }
  if (has(types, "string")) return JsonValue(raw);
  // Nothing the schema allows fits: keep JSON if the text is JSON, else the raw text.
  try {
    return JsonValue::parse(raw);
  } catch (const TextError&) {
    return JsonValue(raw);
  }
}

}  // namespace mm::text
