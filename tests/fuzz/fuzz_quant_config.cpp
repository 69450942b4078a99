// Fuzzes the quantization_config block of config.json (fp8, compressed-tensors, Quark), then
// resolves the modules of a MiniMax-M2 layer against it: every step either succeeds with a
// scheme the loader can size tensors from, or raises LoadError.
#include <cstdint>
#include <string>

#include "daemon/model/load_error.h"
#include "daemon/model/quant_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const mm::QuantConfig quant = mm::QuantConfig::parse(text, "config.json");
    for (const char* module : {"model.layers.0.self_attn.q_proj", "model.layers.3.self_attn.o_proj",
                               "model.layers.1.block_sparse_moe.experts.7.w2",
                               "model.layers.0.block_sparse_moe.gate", "lm_head"}) {
      try {
        const mm::LinearScheme scheme = quant.resolve(module);
        (void)scheme.label();
        // What bind_model_weights divides by.
        if (scheme.strategy == mm::ScaleStrategy::kGroup && scheme.group_size <= 0) {
          __builtin_trap();
        }
        if (scheme.strategy == mm::ScaleStrategy::kBlock &&
            (scheme.block_n <= 0 || scheme.block_k <= 0)) {
          __builtin_trap();
        }
        if (scheme.format == mm::WeightFormat::kIntPacked && scheme.bits != 4 && scheme.bits != 8) {
          __builtin_trap();
        }
      } catch (const mm::LoadError&) {
      }
    }
  } catch (const mm::LoadError&) {
  }
  return 0;
}
