// Jinja parser: tokens to a syntax tree. Supports the statements Hugging Face chat templates use
// (if/elif/else, for with else and filter, set incl. block set and namespace attributes, macro,
// break/continue, filter blocks, generation blocks) and the full expression grammar with Jinja's
// precedence. Anything else is a TextError "NAME:LINE:COLUMN: ...". Thread-safe: pure function.
#pragma once

#include <string_view>

#include "daemon/text/jinja/ast.h"

namespace mm::text::jinja {

NodePtr parse(std::string_view source, std::string_view name);

}  // namespace mm::text::jinja
