// Jinja lexer with the options Hugging Face renders chat templates with: trim_blocks and
// lstrip_blocks on, keep_trailing_newline off; `-`/`+` whitespace control on tags. Produces text
// tokens (already whitespace-trimmed) and expression tokens inside `{{ }}` and `{% %}`.
// Thread-safe: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mm::text::jinja {

enum class TokenType {
  kText,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenType type;
  std::string text;  // text, name, decoded string literal, number or operator spelling
  int line = 1;
  int column = 1;
};

// Throws TextError "NAME:LINE:COLUMN: ..." on an unterminated tag, comment or string.
std::vector<Token> lex(std::string_view source, std::string_view name);

}  // namespace mm::text::jinja
