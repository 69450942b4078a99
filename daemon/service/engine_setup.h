// Turns the daemon's configuration and the checkpoint's config.json / generation_config.json
// into the engine's options and the requests' sampling defaults.
// Pure functions of their inputs (they read the two JSON files); run once at start.
#pragma once

#include "daemon/engine/engine.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/model/quant_config.h"
#include "daemon/service/config.h"

namespace mm {

struct EngineSetup {
  EngineOptions engine;
  SamplingParams default_sampling;  // generation_config.json + --override-generation-config
  std::string served_model_name;
  int vocab_size = 0;              // config.json's: the logits a request's token ids index
  std::vector<std::string> notes;  // settings accepted but not acted on, for the log
};

// Throws ConfigError (naming the file or flag) when the model folder cannot be read.
// setup.engine.settings lists the resolved settings with their sources (the chat template is
// added by the caller, which loads it: chat_template_setting).
EngineSetup make_engine_setup(const DaemonConfig& config);

// What --kv-cache-dtype comes to on a checkpoint.
struct KvCacheChoice {
  KvDType dtype = KvDType::kBf16;
  std::string source;              // flag, config, checkpoint or default
  bool calibrated_scales = false;  // FP8 with the checkpoint's k/v scales (else 1.0)
};
// `requested` is the --kv-cache-dtype value and `requested_source` where it came from (flag,
// config or default). auto follows the checkpoint's kv_cache_scheme as vLLM does: FP8 E4M3
// with its calibrated scales when it has one, BF16 (source "default") when it has none.
KvCacheChoice resolve_kv_cache_dtype(const std::string& requested,
                                     const std::string& requested_source,
                                     const KvCacheScheme& checkpoint_scheme);

// The chat template's setting: `origin` is where ModelText found it (a file path, or its
// built-in template's description).
SettingOrigin chat_template_setting(const DaemonConfig& config, const std::string& origin);

}  // namespace mm
