// Fuzzes config.json: every input must either parse into a config whose fields are inside the
// ranges the parser promises, or raise LoadError; never crash, hang or overflow.
#include <cstdint>
#include <string>

#include "daemon/model/load_error.h"
#include "daemon/model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const mm::ModelConfig c = mm::parse_model_config(text, "config.json");
    // The ranges the loader and the engine rely on (model_config.cpp).
    if (c.max_position_embeddings < 1 || c.max_position_embeddings > (int64_t{1} << 30)) {
      __builtin_trap();
    }
    if (c.vocab_size < 1 || c.vocab_size > INT32_MAX) __builtin_trap();
    if (c.head_dim < 1 || c.rotary_dim < 1 || c.rotary_dim > c.head_dim) __builtin_trap();
    if (c.num_key_value_heads < 1 || c.num_attention_heads % c.num_key_value_heads != 0) {
      __builtin_trap();
    }
    if (c.num_experts_per_tok < 1 || c.num_experts_per_tok > c.num_local_experts) __builtin_trap();
    if (!(c.rope_theta > 0) || !(c.rms_norm_eps > 0)) __builtin_trap();
    if (c.eos_token_id && (*c.eos_token_id < 0 || *c.eos_token_id >= c.vocab_size)) {
      __builtin_trap();
    }
    (void)c.q_size();
  } catch (const mm::LoadError&) {
  }
  return 0;
}
