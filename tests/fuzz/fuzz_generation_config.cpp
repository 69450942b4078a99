// Fuzzes generation_config.json (and --override-generation-config, the same parser): every
// input parses into values the sampler can take as floats and ints, or raises LoadError.
#include <cmath>
#include <cstdint>
#include <string>

#include "daemon/model/load_error.h"
#include "daemon/model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const mm::GenerationConfig g = mm::parse_generation_config(text, "generation_config.json");
    for (int64_t id : g.eos_token_ids) {
      if (id < 0 || id > INT32_MAX) __builtin_trap();
    }
    for (const auto& value : {g.temperature, g.top_p, g.min_p, g.repetition_penalty}) {
      if (value && (!std::isfinite(*value) || *value < 0 || *value > 3.5e38)) __builtin_trap();
    }
    if (g.top_k && (*g.top_k < -1 || *g.top_k > INT32_MAX)) __builtin_trap();
    if (g.max_new_tokens && (*g.max_new_tokens < 1 || *g.max_new_tokens > INT32_MAX)) {
      __builtin_trap();
    }
  } catch (const mm::LoadError&) {
  }
  return 0;
}
