// Loads arbitrary text as tokenizer.json: either a tokenizer or a TextError, never a crash.
#include <cstdint>
#include <string>

#include "daemon/text/error.h"
#include "daemon/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  try {
    const auto tok = mm::text::Tokenizer::from_json(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    const auto ids = tok.encode("Hello, world! 你好 <think>x</think>");
    (void)tok.decode(ids);
  } catch (const mm::text::TextError&) {
  }
  return 0;
}
