// Tool definitions from a request and the typing of raw tool-call parameter text by the tool's JSON
// schema (spec §6.7.5, avoiding SGLang #16057 and smg #1743): string by default; null only when the
// schema allows null; integer, number, boolean, object/array only when allowed and the text parses.
// Thread-safe: pure functions over immutable values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/text/json_value.h"

namespace mm::text {

struct ToolSchema {
  std::string name;
  JsonValue parameters;  // JSON schema object of the arguments (may be null)
};

// Reads OpenAI-style tools ([{"type":"function","function":{"name","parameters"}}] or bare
// function objects). Throws TextError naming the index of a tool without a name.
std::vector<ToolSchema> tools_from_json(const JsonValue& tools);

// JSON types ("string", "integer", "number", "boolean", "object", "array", "null") a parameter
// schema allows: from type / type arrays / enum values / anyOf / oneOf / allOf. Empty set means
// "no usable schema" (treated as string).
std::vector<std::string> allowed_types(const JsonValue& parameter_schema);

// Types `raw` (already whitespace-stripped) for parameter `parameter` of `tool`.
JsonValue coerce_parameter(const ToolSchema* tool, std::string_view parameter,
                           std::string_view raw);

// True when the parameter is typed as a string only, so its value can stream as it is generated.
bool is_string_only(const ToolSchema* tool, std::string_view parameter);

}  // namespace mm::text
