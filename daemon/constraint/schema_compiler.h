// JSON Schema (the subset tools and structured outputs use) and regular expressions compiled to
// a Grammar. What is supported: see man/mmd.8, CONSTRAINED DECODING. A keyword outside the subset
// is refused with text::ChatRequestError naming the keyword's JSON path, never ignored; keywords
// that do not constrain a value (description, title, examples, default, $schema, $id, $comment,
// format, deprecated, readOnly, writeOnly) are ignored.
// Output shape: JSON as Python's json.dumps writes it (", " and ": " separators), properties in
// the schema's order (required ones always present), numbers within 16 digits.
// Thread-safe: pure functions; each call builds its own Grammar.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/constraint/grammar.h"
#include "daemon/text/json_value.h"

namespace mm::constraint {

// How a value is written: JSON, or as MiniMax writes a tool-call parameter (strings raw, other
// values JSON), ended by `</parameter>`.
enum class ValueMode : uint8_t { kJson, kToolParameter };

// Adds the grammar of `schema` to `grammar` and returns its node. `where` is the schema's path in
// the request ("response_format.json_schema.schema"); errors name paths below it.
// `root` (default: `schema`) is the document local $refs point into, at path `root_where`.
int32_t compile_schema(Grammar& grammar, const text::JsonValue& schema, const std::string& where,
                       ValueMode mode = ValueMode::kJson, const text::JsonValue* root = nullptr,
                       const std::string& root_where = "");
// Any JSON value (`object_only`: any JSON object), as json_object asks.
int32_t compile_any_json(Grammar& grammar, bool object_only);
// A regular expression (the subset: literals, escapes \d \w \s \D \W \S \. \uXXXX, classes
// [a-z] [^...], ., groups, |, * + ? {n} {n,} {n,m}, lazy forms, ^ and $ at the ends) matched
// whole. `json_string`: the text is a JSON string's body (quote and backslash escaped, control
// characters left out); else raw bytes. `search`: JSON Schema's `pattern` semantics (a match
// anywhere, unless anchored by ^ and $); else the whole text matches (vLLM's guided_regex).
int32_t compile_regex(Grammar& grammar, std::string_view pattern, const std::string& where,
                      bool json_string, bool search);

}  // namespace mm::constraint
