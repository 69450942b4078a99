#include "daemon/model/inspect_report.h"

#include <map>
#include <tuple>

#include "daemon/model/checkpoint.h"
#include "daemon/model/load_error.h"
#include "daemon/model/model_weights.h"
#include "daemon/model/quant_config.h"
#include "daemon/model/tensor_parallel_plan.h"

namespace mm {
namespace {

// "0-3,5,7-9" from a sorted list of layer indices.
std::string layer_ranges(const std::vector<int64_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1)
      ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(layers[i]);
    if (j > i) out += "-" + std::to_string(layers[j]);
    i = j + 1;
  }
  return out;
}

// Accumulates rows keyed by (component order, component, scheme, dtype).
class RowBuilder {
 public:
  void add(int order, const std::string& component, const std::string& scheme,
           const std::string& dtype, int64_t layer, int64_t num_tensors, int64_t num_params,
           uint64_t num_bytes) {
    Entry& entry = entries_[{order, component, scheme, dtype}];
    if (layer >= 0 && (entry.layers.empty() || entry.layers.back() != layer)) {
      entry.layers.push_back(layer);
    }
    entry.num_tensors += num_tensors;
    entry.num_params += num_params;
    entry.num_bytes += num_bytes;
  }

  void add_linear(int order, const std::string& component, const LinearWeights& linear,
                  int64_t layer) {
    int64_t num_tensors = 0;
    for (const TensorRef& ref :
         {linear.weight, linear.scale, linear.zero_point, linear.g_idx, linear.shape}) {
      if (ref) ++num_tensors;
    }
    add(order, component, linear.scheme.label(), std::string(dtype_name(linear.weight.info->dtype)),
        layer, num_tensors, linear.num_params(), linear.num_bytes());
  }

  void add_tensor(int order, const std::string& component, TensorRef ref, int64_t layer) {
    if (!ref) return;
    add(order, component, "unquantized", std::string(dtype_name(ref.info->dtype)), layer, 1,
        ref.info->num_elements(), ref.info->num_bytes());
  }

  std::vector<PrecisionRow> rows() const {
    std::vector<PrecisionRow> out;
    for (const auto& [key, entry] : entries_) {
      PrecisionRow row;
      row.component = std::get<1>(key);
      row.scheme = std::get<2>(key);
      row.dtype = std::get<3>(key);
      row.layers = layer_ranges(entry.layers);
      row.num_tensors = entry.num_tensors;
      row.num_params = entry.num_params;
      row.num_bytes = entry.num_bytes;
      out.push_back(std::move(row));
    }
    return out;
  }

 private:
  struct Entry {
    std::vector<int64_t> layers;
    int64_t num_tensors = 0;
    int64_t num_params = 0;
    uint64_t num_bytes = 0;
  };
  std::map<std::tuple<int, std::string, std::string, std::string>, Entry> entries_;
};

uint64_t tensor_bytes(TensorRef ref) {
  return ref ? ref.info->num_bytes() : 0;
}

}  // namespace

InspectReport inspect_checkpoint(const std::filesystem::path& folder) {
  InspectReport report;
  report.folder = folder.string();
  try {
    Checkpoint checkpoint(folder);
    report.num_shards = static_cast<int>(checkpoint.shards().size());
    report.num_tensors = static_cast<int64_t>(checkpoint.num_tensors());
    report.file_bytes = checkpoint.total_file_bytes();

    const std::string config_file = (folder / "config.json").string();
    auto config_text = checkpoint.read_text_file("config.json");
    if (!config_text) throw LoadError(config_file + ": missing");
    report.config = parse_model_config(*config_text, config_file);
    const ModelConfig& config = *report.config;
    if (auto generation = checkpoint.read_text_file("generation_config.json")) {
      parse_generation_config(*generation, (folder / "generation_config.json").string());
    }
    const QuantConfig quant = QuantConfig::parse(*config_text, config_file);
    report.quant_method = std::string(quant_method_name(quant.method()));
    report.warnings = quant.warnings();
    const KvCacheScheme& kv = quant.kv_cache();
    report.kv_cache = kv.fp8 ? std::string("FP8 E4M3, calibrated ") +
                                   (kv.per_head ? "per-head" : "per-tensor") + " scales (" +
                                   kv.origin + ")"
                             : "BF16 (FP8 E4M3 available with scale 1.0)";
    const int64_t kv_elements = config.num_hidden_layers * 2 * config.kv_size();
    report.kv_bytes_per_token_bf16 = static_cast<uint64_t>(kv_elements) * 2;
    report.kv_bytes_per_token_fp8 = static_cast<uint64_t>(kv_elements);
    report.tensor_parallel_sizes = workable_tensor_parallel_sizes(config, quant);
    for (int tp = 2; tp <= 16; tp *= 2) {
      if (!plan_tensor_parallel(config, quant, tp, &report.tensor_parallel_limit)) break;
      report.tensor_parallel_limit.clear();
    }

    const ModelWeights weights = bind_model_weights(checkpoint, config, quant);
    check_weight_values(checkpoint, weights);
    RowBuilder rows;
    rows.add_tensor(0, "Embeddings", weights.embed, -1);
    for (size_t l = 0; l < weights.layers.size(); ++l) {
      const LayerWeights& layer = weights.layers[l];
      const auto index = static_cast<int64_t>(l);
      for (const LinearWeights* proj :
           {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj}) {
        rows.add_linear(1, "Attention q/k/v/o_proj", *proj, index);
      }
      rows.add_tensor(2, "Attention q/k norms", layer.q_norm, index);
      rows.add_tensor(2, "Attention q/k norms", layer.k_norm, index);
      rows.add_tensor(3, "KV cache scales", layer.k_scale, index);
      rows.add_tensor(3, "KV cache scales", layer.v_scale, index);
      rows.add_tensor(4, "Layer norms", layer.input_norm, index);
      rows.add_tensor(4, "Layer norms", layer.post_attn_norm, index);
      rows.add_linear(5, "Router gate", layer.router, index);
      rows.add_tensor(6, "Routing bias", layer.router_bias, index);
      for (const ExpertWeights& expert : layer.experts) {
        for (const LinearWeights* w : {&expert.w1, &expert.w2, &expert.w3}) {
          rows.add_linear(7, "Experts w1/w2/w3", *w, index);
        }
      }

      uint64_t attention_bytes = 0;
      int64_t attention_params = 0;
      for (const LinearWeights* proj :
           {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj}) {
        attention_bytes += proj->num_bytes();
        attention_params += proj->num_params();
      }
      const ExpertWeights& expert = layer.experts.front();
      const uint64_t expert_bytes =
          expert.w1.num_bytes() + expert.w2.num_bytes() + expert.w3.num_bytes();
      const int64_t expert_params =
          expert.w1.num_params() + expert.w2.num_params() + expert.w3.num_params();
      report.num_active_params +=
          attention_params + layer.router.num_params() + config.num_experts_per_tok * expert_params;
      report.active_bytes_per_token +=
          attention_bytes + layer.router.num_bytes() +
          static_cast<uint64_t>(config.num_experts_per_tok) * expert_bytes +
          tensor_bytes(layer.q_norm) + tensor_bytes(layer.k_norm) + tensor_bytes(layer.input_norm) +
          tensor_bytes(layer.post_attn_norm) + tensor_bytes(layer.router_bias);
    }
    rows.add_tensor(8, "Final norm", weights.final_norm, -1);
    if (weights.lm_head.weight.info != weights.embed.info) {
      rows.add_linear(9, "LM head", weights.lm_head, -1);
    }
    report.num_active_params += weights.lm_head.num_params();
    report.active_bytes_per_token += weights.lm_head.num_bytes() + tensor_bytes(weights.final_norm);
    report.rows = rows.rows();

    for (const PrecisionRow& row : report.rows) {
      report.num_params += row.num_params;
      report.resident_bytes += row.num_bytes;
    }
    report.num_mtp_tensors = static_cast<int64_t>(weights.mtp_tensors.size());
    if (report.num_mtp_tensors > 0) {
      uint64_t mtp_bytes = 0;
      for (TensorRef ref : weights.mtp_tensors)
        mtp_bytes += ref.info->num_bytes();
      PrecisionRow row;
      row.component = "MTP modules (not used)";
      row.num_tensors = report.num_mtp_tensors;
      row.scheme = "not loaded";
      row.num_bytes = mtp_bytes;
      report.rows.push_back(row);
    }
    report.valid = true;
  } catch (const LoadError& error) {
    report.error = error.what();
  } catch (const std::exception& error) {
    report.error = folder.string() + ": " + error.what();
  }
  return report;
}

}  // namespace mm
