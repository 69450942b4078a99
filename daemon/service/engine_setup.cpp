#include "daemon/service/engine_setup.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "daemon/engine/generation_defaults.h"
#include "daemon/model/model_config.h"
#include "daemon/model/quant_config.h"
#include "daemon/model/tensor_parallel_plan.h"

namespace mm {

namespace {

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
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

  if (config.tensor_parallel_size > 1) {
    // Say first whether this checkpoint can split that way at all, naming the sizes that can.
    const QuantConfig quant = [&] {
      try {
        return QuantConfig::parse(*config_text, config_path.string());
      } catch (const std::exception& error) {
        throw ConfigError(error.what());
      }
    }();
    const int tp = config.tensor_parallel_size;
    std::string why;
    std::string sizes;
    for (int n : workable_tensor_parallel_sizes(model, quant))
      sizes += (sizes.empty() ? "" : ", ") + std::to_string(n);
    if (!plan_tensor_parallel(model, quant, tp, &why))
      throw ConfigError("--tensor-parallel-size: " + why +
                        "; sizes that split this checkpoint: " + sizes);
  }

  EngineOptions& e = setup.engine;
  e.model = folder;
  GenerationConfig generation;
  const auto generation_path = folder / "generation_config.json";
  try {
    if (const auto text = read_text(generation_path))
      generation = parse_generation_config(*text, generation_path.string());
    if (!config.override_generation_config.empty()) {
      generation = merge_generation_configs(
          generation, parse_generation_config(config.override_generation_config,
                                              "--override-generation-config"));
    }
  } catch (const std::exception& error) {
    throw ConfigError(error.what());
  }
  setup.default_sampling = default_sampling_params(generation);
  for (int64_t id : generation.eos_token_ids)
    e.eos_token_ids.push_back(static_cast<int32_t>(id));
  if (e.eos_token_ids.empty() && model.eos_token_id)
    e.eos_token_ids.push_back(static_cast<int32_t>(*model.eos_token_id));

  const std::string& dtype = config.kv_cache_dtype;
  e.runner.kv_dtype = dtype == "fp8" || dtype == "fp8_e4m3" ? KvDType::kFp8E4M3
                      : dtype == "float32"                  ? KvDType::kF32
                                                            : KvDType::kBf16;
  e.runner.num_threads = config.num_threads;
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
  return setup;
}

}  // namespace mm
