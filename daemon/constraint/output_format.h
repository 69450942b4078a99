// Readers of the request fields that ask for structured output, shared by every frontend (HTTP
// JSON, shm and D-Bus options): OpenAI's response_format, vLLM's guided_json / guided_regex /
// guided_choice and structured_outputs. Errors are text::ChatRequestError naming the field.
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "daemon/text/chat_request.h"

namespace mm::constraint {

// {"type": "text" | "json_object" | "json_schema", "json_schema": {"name", "schema", "strict",
// "description"}}.
text::OutputFormat output_format_from_json(const text::JsonValue& format,
                                           const std::string& where = "response_format");
// `field`: guided_json (a schema, or its JSON text), guided_regex (a string), guided_choice (an
// array of strings), structured_outputs ({"json" | "regex" | "choice" | "json_object"}).
text::OutputFormat guided_from_json(std::string_view field, const text::JsonValue& value);
// Sets request.output, refusing a second format ("response_format and guided_json").
void apply_output_format(text::OutputFormat format, text::ChatRequest& request);

}  // namespace mm::constraint
