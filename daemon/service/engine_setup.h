// Turns the daemon's configuration and the checkpoint's config.json / generation_config.json
// into the engine's options and the requests' sampling defaults.
// Pure functions of their inputs (they read the two JSON files); run once at start.
#pragma once

#include "daemon/engine/engine.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/service/config.h"

namespace mm {

struct EngineSetup {
  EngineOptions engine;
  SamplingParams default_sampling;  // generation_config.json + --override-generation-config
  std::string served_model_name;
  std::vector<std::string> notes;  // settings accepted but not acted on, for the log
};

// Throws ConfigError (naming the file or flag) when the model folder cannot be read.
EngineSetup make_engine_setup(const DaemonConfig& config);

}  // namespace mm
