// Reading a request body as JSON, the same way for every HTTP API (OpenAI chat / completions,
// the Responses API): nesting bounded, key order kept, errors as 400 ApiErrors naming the byte
// offset or what is wrong.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "daemon/text/json_value.h"

namespace mm::http {

// Deeper nesting than any real request has; it bounds the recursion of dump() and of
// everything else that walks the value.
inline constexpr int kMaxJsonDepth = 64;

// The body as a JSON object; throws ApiError (400) for bad JSON (with its byte offset), a body
// nested deeper than kMaxJsonDepth, a number out of range, or a value that is not an object.
nlohmann::ordered_json parse_json_body(std::string_view body);

// "a string", "a number", ... for messages that say what a field holds instead.
std::string json_type_name(const nlohmann::ordered_json& value);

// The same tree as a text::JsonValue (what the chat readers take): numbers keep their kind,
// objects their key order. Depth is bounded by parse_json_body.
text::JsonValue to_text_json(const nlohmann::ordered_json& value);

}  // namespace mm::http
