#include "daemon/engine/generation_defaults.h"

namespace mm {

GenerationConfig merge_generation_configs(const GenerationConfig& model_config,
                                          const GenerationConfig& override_config) {
  GenerationConfig out = model_config;
  auto take = [](auto& field, const auto& value) {
    if (value) field = value;
  };
  if (!override_config.eos_token_ids.empty()) out.eos_token_ids = override_config.eos_token_ids;
  take(out.bos_token_id, override_config.bos_token_id);
  take(out.pad_token_id, override_config.pad_token_id);
  take(out.do_sample, override_config.do_sample);
  take(out.temperature, override_config.temperature);
  take(out.top_p, override_config.top_p);
  take(out.top_k, override_config.top_k);
  take(out.min_p, override_config.min_p);
  take(out.repetition_penalty, override_config.repetition_penalty);
  take(out.max_new_tokens, override_config.max_new_tokens);
  return out;
}

SamplingParams default_sampling_params(const GenerationConfig& config) {
  SamplingParams params;
  // do_sample false means greedy in transformers, whatever the temperature says.
  if (config.do_sample && !*config.do_sample) {
    params.temperature = 0.0f;
  } else if (config.temperature) {
    params.temperature = static_cast<float>(*config.temperature);
  }
  if (config.top_p) params.top_p = static_cast<float>(*config.top_p);
  if (config.top_k) params.top_k = static_cast<int>(*config.top_k);
  if (config.min_p) params.min_p = static_cast<float>(*config.min_p);
  if (config.repetition_penalty) {
    params.repetition_penalty = static_cast<float>(*config.repetition_penalty);
  }
  if (config.max_new_tokens) params.max_tokens = static_cast<int>(*config.max_new_tokens);
  return params;
}

}  // namespace mm
