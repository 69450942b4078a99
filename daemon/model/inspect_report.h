// What `mmctl inspect` shows about a checkpoint: dimensions, the precision map in the style
// of the model cards, sizes, KV cost per token, and whether the checkpoint loads. Built from
// headers, a few index tensors and one pass over the scale and norm tensors (check_weight_values);
// no weight data. Plain value type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/model/model_config.h"

namespace mm {

struct PrecisionRow {
  std::string component;  // "Experts w1/w2/w3", "Attention q/k/v/o_proj", ...
  std::string layers;     // "0-61", "58-61", or "" for model-level tensors
  int64_t num_tensors = 0;
  int64_t num_params = 0;  // weight elements (unpacked) of the component
  std::string scheme;      // "unquantized", "INT4 W4A16 group 32", ...
  std::string dtype;       // storage dtype of the main tensor(s): "BF16", "F8_E4M3", "I32"
  uint64_t num_bytes = 0;  // on disk, scales included
};

struct InspectReport {
  std::string folder;
  bool valid = false;
  std::string error;  // the load error when !valid
  std::optional<ModelConfig> config;
  std::string quant_method;  // "none", "fp8", "compressed-tensors", "quark"
  std::string kv_cache;      // "BF16" or "FP8 E4M3, calibrated per-tensor scales"
  std::vector<PrecisionRow> rows;
  int num_shards = 0;
  int64_t num_tensors = 0;
  int64_t num_mtp_tensors = 0;
  int64_t num_params = 0;               // all weights mmd uses
  int64_t num_active_params = 0;        // per token: attention, router, top-k experts, lm_head
  uint64_t file_bytes = 0;              // the safetensors files
  uint64_t resident_bytes = 0;          // tensors mmd keeps (everything but MTP), as stored
  uint64_t active_bytes_per_token = 0;  // weight bytes one decode step reads at batch 1
  uint64_t kv_bytes_per_token_bf16 = 0;
  uint64_t kv_bytes_per_token_fp8 = 0;
  // Tensor-parallel sizes up to 16 that keep every quantization block whole, and why the next
  // power of two above the largest does not (tensor_parallel_plan.h).
  std::vector<int> tensor_parallel_sizes;
  std::string tensor_parallel_limit;
  std::vector<std::string> warnings;
};

// Never throws: a checkpoint that fails to load gives valid = false and the error, with as
// much of the report as could be read before the failure.
InspectReport inspect_checkpoint(const std::filesystem::path& folder);

}  // namespace mm
