// A small byte-level vocabulary for the constraint tests: every single byte (so any text can be
// spelled), tokens that span grammar boundaries (`": "`, `"}`, `</parameter>\n<`), tokens that
// cut multi-byte UTF-8 characters (`\xE4\xB8`, `\xAD"`), one special token (never allowed) and
// the end-of-turn token.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/constraint/vocab_index.h"

namespace mm::constraint::testing {

inline constexpr int32_t kSpecialId = 256;
inline constexpr int32_t kEndId = 257;

inline std::vector<std::string> test_tokens() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.emplace_back(1, static_cast<char>(b));
  tokens.emplace_back("");      // special: no bytes, never allowed
  tokens.emplace_back("[e~[");  // the end of the turn (its bytes are never matched)
  for (const char* t : {"{\"",
                        "\":",
                        "\": ",
                        "\", \"",
                        "\"}",
                        "\"]",
                        "[\"",
                        "[]",
                        "{}",
                        "true",
                        "false",
                        "null",
                        "\\\"",
                        "\\\\",
                        "\\u00",
                        "\xC3\xA9",
                        "\xC3\xA9\"",
                        "\"\xC3\xA9",
                        "\xE4\xB8\xAD",
                        "\xE4\xB8",
                        "\xB8\xAD",
                        "\xAD\"",
                        "12",
                        "-1",
                        ".5",
                        "e+",
                        "ab",
                        "abc\"",
                        " \"",
                        ",\"",
                        "\":\"",
                        "\n\n",
                        "</",
                        "</parameter>",
                        "</parameter>\n",
                        "</parameter>\n<",
                        "<parameter name=\"",
                        "\">\n",
                        "</invoke>\n",
                        "</minimax:tool_call>",
                        "</think>",
                        "</think>\n\n{",
                        "<invoke name=\"",
                        "get_weather",
                        "city",
                        "unit",
                        "\"name",
                        "name",
                        "age",
                        "0",
                        "00",
                        "10",
                        "99",
                        "100",
                        "1e5",
                        "tags",
                        ", ",
                        ": ",
                        "\"a",
                        "b\"",
                        "\xF0\x9F",
                        "\x98\x80",
                        "\xF0\x9F\x98\x80",
                        "\xFF",
                        "<",
                        "<p",
                        "\n<",
                        "\">\n<parameter name=\""})
    tokens.emplace_back(t);
  return tokens;
}

inline std::shared_ptr<const VocabIndex> test_vocab() {
  return std::make_shared<VocabIndex>(test_tokens(), std::vector<int32_t>{kEndId});
}

}  // namespace mm::constraint::testing
