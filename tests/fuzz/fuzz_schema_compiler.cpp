// The constraint compilers on arbitrary input: the first byte picks what the rest is (0: a JSON
// Schema for response_format, 1: a tools array for tool_choice required, 2: a regular expression
// for guided_regex), the second seeds the walk. A compiled grammar is then driven for up to 64
// tokens over a vocabulary of every byte plus a few boundary tokens: each step's mask must allow
// the token taken (or nothing, at a dead end that only the end token could leave) and advancing
// by an allowed token must succeed. Only request errors (std::invalid_argument, which
// ChatRequestError is) and JSON that does not parse (TextError) may escape.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/constraint/constraint.h"
#include "daemon/text/error.h"
#include "daemon/text/json_value.h"

namespace {

using mm::constraint::Matcher;
using mm::constraint::VocabIndex;

std::shared_ptr<const VocabIndex> fuzz_vocab() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.emplace_back(1, static_cast<char>(b));
  tokens.emplace_back("[e~[");  // the end token, id 256
  for (const char* t : {"\": ", "\", \"", "\"}", "</parameter>\n", "<parameter name=\"",
                        "</invoke>\n", "</minimax:tool_call>", "\xE4\xB8", "\xAD\"", "true"})
    tokens.emplace_back(t);
  return std::make_shared<VocabIndex>(tokens, std::vector<int32_t>{256});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const std::shared_ptr<const VocabIndex> vocab = fuzz_vocab();
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::shared_ptr<const mm::constraint::Grammar> grammar;
  try {
    switch (data[0] % 3) {
      case 0: {
        mm::constraint::OutputSpec spec;
        spec.kind = mm::constraint::OutputSpec::Kind::kJsonSchema;
        spec.schema = mm::text::JsonValue::parse(text);
        spec.where = "schema";
        grammar = mm::constraint::compile_output(spec, (data[1] & 1) != 0);
        break;
      }
      case 1: {
        const mm::text::JsonValue tools = mm::text::JsonValue::parse(text);
        if (!tools.is_array()) return 0;
        grammar = mm::constraint::compile_tool_calls(tools.as_array(), "");
        break;
      }
      default: {
        mm::constraint::OutputSpec spec;
        spec.kind = mm::constraint::OutputSpec::Kind::kRegex;
        spec.regex = std::string(text);
        spec.where = "guided_regex";
        grammar = mm::constraint::compile_output(spec, false);
        break;
      }
    }
  } catch (const std::invalid_argument&) {
    return 0;
  } catch (const mm::text::TextError&) {
    return 0;
  }
  std::optional<Matcher> start;
  try {
    start.emplace(grammar, vocab);
  } catch (const std::invalid_argument&) {
    return 0;  // a grammar that matches nothing is refused the same way
  }
  Matcher& m = *start;
  std::vector<uint32_t> mask(vocab->num_words());
  uint32_t pick = data[1];
  for (int step = 0; step < 64 && !m.ended(); ++step) {
    m.fill_mask(mask);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < vocab->vocab_size(); ++id) {
      if ((mask[static_cast<size_t>(id) >> 5] >> (id & 31)) & 1) allowed.push_back(id);
    }
    if (allowed.empty()) break;
    pick = pick * 1103515245u + 12345u;
    if (!m.advance_token(allowed[pick % allowed.size()])) std::abort();
  }
  return 0;
}
