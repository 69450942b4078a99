// Wire values to engine values and back for the shared-memory frontend: a Submit's sampling
// options over the model's generation defaults become SamplingParams; an EngineStatus becomes
// a StatusReply. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/request.h"
#include "ipc/protocol.h"

namespace mm {

// What unset sampling options default to: generation_config.json (with
// --override-generation-config applied), then vLLM's defaults.
struct GenerationDefaults {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<int> max_tokens;
};

// Fills `request.params` from the options; the prompt is set by the caller. Returns an error
// message naming the field when an option is out of range, or nullopt.
std::optional<std::string> to_sampling_params(const ipc::SamplingOptions& options,
                                              const GenerationDefaults& defaults,
                                              SamplingParams& params);

ipc::StatusReply to_status_reply(const EngineStatus& status);

}  // namespace mm
