// Default sampling parameters of a model: its generation_config.json, with the fields of an
// override (vLLM's --override-generation-config, parsed the same way) taking precedence.
// A request's explicit parameters are applied on top by the frontends. Pure; thread-safe.
#pragma once

#include "daemon/engine/sampling_params.h"
#include "daemon/model/model_config.h"

namespace mm {

// Fields set in `override_config` replace those of `model_config`.
GenerationConfig merge_generation_configs(const GenerationConfig& model_config,
                                          const GenerationConfig& override_config);

// SamplingParams with every field the generation config sets; the rest keep their defaults.
SamplingParams default_sampling_params(const GenerationConfig& config);

}  // namespace mm
