#include "daemon/service/engine_setup.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "daemon/engine/generation_defaults.h"
#include "daemon/model/checkpoint_file.h"
#include "daemon/model/kv_cache.h"
#include "daemon/model/load_error.h"
#include "daemon/model/model_config.h"
#include "daemon/model/tensor_parallel_plan.h"

namespace mm {

namespace {

// Regular files only (checkpoint_file.h): a FIFO in the checkpoint must not block start-up.
std::optional<std::string> read_text(const std::filesystem::path& path) {
  try {
    return read_regular_file(path);
  } catch (const LoadError& error) {
    throw ConfigError(error.what());
  }
}

// The shortest text that reads back as `value` ("0.95", not "0.949999988").
std::string number_text(float value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

}  // namespace

EngineSetup make_engine_setup(const DaemonConfig& config) {
  EngineSetup setup;
  const std::filesystem::path folder = config.model;
  const auto config_path = folder / "config.json";
  const auto config_text = read_text(config_path);
  if (!config_text) throw ConfigError("--model: cannot read " + config_path.string());
  ModelConfig model;
  try {
    model = parse_model_config(*config_text, config_path.string());
  } catch (const std::exception& error) {
    throw ConfigError(error.what());
  }

  // The quantization block says how the checkpoint's KV cache is quantized (for auto) and
  // whether -tp can split it. A block mmd cannot read is the load's error to report, unless
  // -tp needs it now.
  std::optional<QuantConfig> quant;
  try {
    quant = QuantConfig::parse(*config_text, config_path.string());
  } catch (const std::exception& error) {
    if (config.tensor_parallel_size > 1) throw ConfigError(error.what());
  }
  if (config.tensor_parallel_size > 1) {
    // Say first whether this checkpoint can split that way at all, naming the sizes that can.
    const int tp = config.tensor_parallel_size;
    std::string why;
    std::string sizes;
    for (int n : workable_tensor_parallel_sizes(model, *quant))
      sizes += (sizes.empty() ? "" : ", ") + std::to_string(n);
    if (!plan_tensor_parallel(model, *quant, tp, &why))
      throw ConfigError("--tensor-parallel-size: " + why +
                        "; sizes that split this checkpoint: " + sizes);
  }

  EngineOptions& e = setup.engine;
  e.model = folder;
  setup.vocab_size = static_cast<int>(model.vocab_size);
  GenerationConfig checkpoint_generation, override_generation;
  const auto generation_path = folder / "generation_config.json";
  try {
    if (const auto text = read_text(generation_path))
      checkpoint_generation = parse_generation_config(*text, generation_path.string());
    if (!config.override_generation_config.empty()) {
      override_generation = parse_generation_config(config.override_generation_config,
                                                    "--override-generation-config");
    }
  } catch (const std::exception& error) {
    throw ConfigError(error.what());
  }
  const GenerationConfig generation =
      merge_generation_configs(checkpoint_generation, override_generation);
  setup.default_sampling = default_sampling_params(generation);
  for (int64_t id : generation.eos_token_ids)
    e.eos_token_ids.push_back(static_cast<int32_t>(id));
  if (e.eos_token_ids.empty() && model.eos_token_id)
    e.eos_token_ids.push_back(static_cast<int32_t>(*model.eos_token_id));

  const KvCacheScheme checkpoint_kv = quant ? quant->kv_cache() : KvCacheScheme{};
  const KvCacheChoice kv = resolve_kv_cache_dtype(
      config.kv_cache_dtype, source_of(config, "kv_cache_dtype"), checkpoint_kv);
  e.runner.kv_dtype = kv.dtype;
  e.runner.num_threads = config.num_threads;
  e.runner.cpu_numerics = parse_cpu_numerics(config.cpu_numerics).value_or(CpuNumerics::kFast);
  e.runner.device = config.device;
  const int blocks_per_chunk = std::min(config.num_kv_blocks, 256);
  e.pool = BlockPoolOptions{
      .block_size = config.kv_block_size,
      .blocks_per_chunk = blocks_per_chunk,
      .initial_num_chunks = 1,
      .max_num_chunks = (config.num_kv_blocks + blocks_per_chunk - 1) / blocks_per_chunk};
  e.scheduler.max_num_seqs = config.max_num_seqs;
  e.scheduler.max_num_batched_tokens = config.max_num_batched_tokens;
  e.scheduler.max_model_len = config.max_model_len > 0
                                  ? config.max_model_len
                                  : static_cast<int>(model.max_position_embeddings);
  e.idle_sleep_after =
      std::chrono::milliseconds(static_cast<int64_t>(config.idle_sleep_seconds * 1000.0));
  e.idle_sleep_level = config.idle_sleep_level;
  e.kv_tiers.host_budget_bytes = config.kv_host_cache_bytes;
  e.kv_tiers.disk_budget_bytes = config.kv_disk_cache_bytes;
  e.kv_tiers.disk_dir = config.kv_disk_cache_dir;
  std::string disk_dir_source = source_of(config, "kv_disk_cache_dir");
  if (e.kv_tiers.disk_dir.empty()) {
    // systemd's StateDirectory= (/var/lib/mmd in the package); may list several, ':'-separated.
    const char* state = std::getenv("STATE_DIRECTORY");
    if (state != nullptr && *state != '\0') {
      const std::string first = std::string(state).substr(0, std::string(state).find(':'));
      e.kv_tiers.disk_dir = std::filesystem::path(first) / "kv-cache";
      disk_dir_source = "environment";
    }
  }
  if (config.kv_disk_cache_bytes > 0 && e.kv_tiers.disk_dir.empty()) {
    throw ConfigError(
        "--kv-disk-cache-bytes needs a folder: give --kv-disk-cache-dir DIR (under systemd it "
        "defaults to $STATE_DIRECTORY/kv-cache)");
  }

  std::filesystem::path normal = std::filesystem::absolute(folder).lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();
  setup.served_model_name =
      config.served_model_name.empty() ? normal.filename().string() : config.served_model_name;
  if (config.gpu_memory_utilization != 0.9) {
    setup.notes.push_back(
        "--gpu-memory-utilization applies to GPU backends; the CPU backend's "
        "KV pool is capped by --num-kv-blocks");
  }
  // The parsers MiniMax-M2 has (daemon/text); vLLM's other names would silently do nothing.
  if (!config.tool_call_parser.empty() && config.tool_call_parser != "minimax_m2") {
    throw ConfigError("--tool-call-parser '" + config.tool_call_parser +
                      "' is not available: mmd has minimax_m2");
  }
  if (!config.reasoning_parser.empty() && config.reasoning_parser != "minimax_m2" &&
      config.reasoning_parser != "minimax_m2_append_think") {
    throw ConfigError("--reasoning-parser '" + config.reasoning_parser +
                      "' is not available: mmd has minimax_m2 and minimax_m2_append_think");
  }

  if (kv.dtype == KvDType::kFp8E4M3 && !kv.calibrated_scales) {
    setup.notes.push_back("--kv-cache-dtype " + config.kv_cache_dtype +
                          ": the checkpoint has no kv_cache_scheme, so no calibrated KV "
                          "scales; K and V are stored with scale 1.0 (as vLLM does)");
  } else if (checkpoint_kv.fp8 && kv.dtype != KvDType::kFp8E4M3) {
    setup.notes.push_back("--kv-cache-dtype " + config.kv_cache_dtype +
                          " overrides the checkpoint's FP8 kv_cache_scheme; its calibrated "
                          "k/v scales are not used");
  }

  // What each setting came to and where from, for the ready log line and every status.
  auto& settings = e.settings;
  const auto add = [&](const std::string& key, const std::string& value) {
    settings.push_back({key, value, source_of(config, key)});
  };
  settings.push_back({"kv_cache_dtype", std::string(kv_cache_dtype_name(kv.dtype)), kv.source});
  if (kv.dtype == KvDType::kFp8E4M3) {
    settings.push_back(kv.calibrated_scales
                           ? SettingOrigin{"kv_cache_scales",
                                           checkpoint_kv.k_scale_suffix + ", " +
                                               checkpoint_kv.v_scale_suffix + " per layer",
                                           "checkpoint"}
                           : SettingOrigin{"kv_cache_scales", "1.0", "default"});
  }
  settings.push_back(
      {"max_model_len", std::to_string(e.scheduler.max_model_len),
       config.max_model_len > 0 ? source_of(config, "max_model_len") : "checkpoint"});
  settings.push_back(
      {"served_model_name", setup.served_model_name, source_of(config, "served_model_name")});
  add("tensor_parallel_size", std::to_string(config.tensor_parallel_size));
  add("device", config.device);
  if (config.device == "cpu") {
    // The CPU kernels' numerics and the instruction set they run on (kernels/README.md).
    add("cpu_numerics", config.cpu_numerics);
    settings.push_back({"cpu_isa", std::string(cpu_isa_name(detected_cpu_isa())),
                        std::getenv("MMD_CPU_ISA") != nullptr ? "MMD_CPU_ISA" : "detected"});
  }
  add("max_num_seqs", std::to_string(config.max_num_seqs));
  add("max_num_batched_tokens", std::to_string(config.max_num_batched_tokens));
  add("kv_block_size", std::to_string(config.kv_block_size));
  add("num_kv_blocks", std::to_string(config.num_kv_blocks));
  add("kv_host_cache_bytes", std::to_string(config.kv_host_cache_bytes));
  add("kv_disk_cache_bytes", std::to_string(config.kv_disk_cache_bytes));
  settings.push_back({"kv_disk_cache_dir", e.kv_tiers.disk_dir.string(), disk_dir_source});
  add("tool_call_parser", config.tool_call_parser);
  add("reasoning_parser", config.reasoning_parser);
  add("enable_auto_tool_choice", config.enable_auto_tool_choice ? "true" : "false");
  // The requests' sampling defaults: --override-generation-config over the checkpoint's
  // generation_config.json over vLLM's defaults.
  const auto sampling = [&](const std::string& name, const std::string& value, auto field) {
    const std::string source = field(override_generation)
                                   ? source_of(config, "override_generation_config")
                               : field(checkpoint_generation) ? "checkpoint"
                                                              : "default";
    settings.push_back({"sampling." + name, value, source});
  };
  const SamplingParams& d = setup.default_sampling;
  // do_sample false (greedy) decides the temperature whatever temperature says.
  const bool greedy = generation.do_sample && !*generation.do_sample;
  sampling("temperature", number_text(d.temperature), [&](const GenerationConfig& g) {
    return greedy ? g.do_sample.has_value() : g.temperature.has_value();
  });
  sampling("top_p", number_text(d.top_p), [](const GenerationConfig& g) { return g.top_p; });
  sampling("top_k", std::to_string(d.top_k), [](const GenerationConfig& g) { return g.top_k; });
  sampling("min_p", number_text(d.min_p), [](const GenerationConfig& g) { return g.min_p; });
  sampling("repetition_penalty", number_text(d.repetition_penalty),
           [](const GenerationConfig& g) { return g.repetition_penalty; });
  sampling("max_tokens", std::to_string(d.max_tokens),
           [](const GenerationConfig& g) { return g.max_new_tokens; });
  return setup;
}

KvCacheChoice resolve_kv_cache_dtype(const std::string& requested,
                                     const std::string& requested_source,
                                     const KvCacheScheme& checkpoint_scheme) {
  KvCacheChoice choice;
  if (requested == "auto") {
    choice.dtype = checkpoint_scheme.fp8 ? KvDType::kFp8E4M3 : KvDType::kBf16;
    choice.source = checkpoint_scheme.fp8 ? "checkpoint" : "default";
  } else {
    choice.dtype = requested == "fp8" || requested == "fp8_e4m3" ? KvDType::kFp8E4M3
                   : requested == "float32"                      ? KvDType::kF32
                                                                 : KvDType::kBf16;
    choice.source = requested_source;
  }
  // The runner loads the scales whenever the scheme names them (model_weights.cpp).
  choice.calibrated_scales = choice.dtype == KvDType::kFp8E4M3 && checkpoint_scheme.fp8;
  return choice;
}

SettingOrigin chat_template_setting(const DaemonConfig& config, const std::string& origin) {
  if (!config.chat_template.empty())
    return {"chat_template", origin, source_of(config, "chat_template")};
  // ModelText names the checkpoint file it read (model / "chat_template.jinja", ...).
  const bool in_checkpoint = origin.starts_with(std::filesystem::path(config.model).string());
  return {"chat_template", origin, in_checkpoint ? "checkpoint" : "default"};
}

}  // namespace mm
