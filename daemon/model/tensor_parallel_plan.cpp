#include "daemon/model/tensor_parallel_plan.h"

#include <numeric>

namespace mm {
namespace {

// Rows of a column-parallel layer stay whole blocks of their scale.
int64_t row_alignment(const LinearScheme& s) {
  return s.strategy == ScaleStrategy::kBlock ? s.block_n : 1;
}

// Columns of a row-parallel layer: whole scale groups / blocks, whole activation groups, whole
// int32 words of packed 4-bit values.
int64_t column_alignment(const LinearScheme& s) {
  int64_t align = 1;
  auto join = [&](int64_t a) {
    if (a > 1) align = std::lcm(align, a);
  };
  if (s.strategy == ScaleStrategy::kGroup) join(s.group_size);
  if (s.strategy == ScaleStrategy::kBlock) join(s.block_k);
  if (s.activations == ActQuant::kFp8PerTokenGroup) join(s.act_group_size);
  if (s.format == WeightFormat::kIntPacked) join(32 / s.bits);
  return align;
}

class Planner {
 public:
  Planner(const ModelConfig& config, const QuantConfig& quant, int tp, std::string* why)
      : config_(config), quant_(quant), tp_(tp), why_(why) {}

  std::optional<TensorParallelPlan> run() {
    if (tp_ < 1) return fail("tensor parallel size " + std::to_string(tp_) + " is not positive");
    TensorParallelPlan plan;
    plan.tp = tp_;
    const int64_t heads = config_.num_attention_heads;
    const int64_t kv = config_.num_key_value_heads;
    if (heads % tp_ != 0)
      return fail(std::to_string(heads) + " attention heads do not split over " +
                  std::to_string(tp_) + " ranks");
    plan.q_heads_per_rank = heads / tp_;
    if (tp_ <= kv) {
      if (kv % tp_ != 0)
        return fail(std::to_string(kv) + " KV heads do not split over " + std::to_string(tp_) +
                    " ranks");
      plan.kv_heads_per_rank = kv / tp_;
    } else {
      if (tp_ % kv != 0)
        return fail(std::to_string(kv) + " KV heads cannot be replicated evenly over " +
                    std::to_string(tp_) + " ranks");
      plan.kv_heads_per_rank = 1;
      plan.kv_head_replicas = static_cast<int>(tp_ / kv);
    }
    if (config_.intermediate_size % tp_ != 0)
      return fail("the experts' intermediate size " + std::to_string(config_.intermediate_size) +
                  " does not split over " + std::to_string(tp_) + " ranks");
    plan.intermediate_per_rank = config_.intermediate_size / tp_;
    plan.vocab_per_rank = (config_.vocab_size + tp_ - 1) / tp_;

    const int64_t q_rows = plan.q_heads_per_rank * config_.head_dim;
    const int64_t kv_rows = plan.kv_heads_per_rank * config_.head_dim;
    const int64_t experts = config_.num_local_experts;
    for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
      const std::string layer = "model.layers." + std::to_string(l) + ".";
      if (!columns(layer + "self_attn.q_proj", q_rows) ||
          !columns(layer + "self_attn.k_proj", kv_rows) ||
          !columns(layer + "self_attn.v_proj", kv_rows) ||
          !rows(layer + "self_attn.o_proj", q_rows)) {
        return std::nullopt;
      }
      // Experts of one layer share a scheme in every published checkpoint; the first and the
      // last are checked so that a per-expert exception at either end is still seen.
      for (const int64_t e : {int64_t{0}, experts - 1}) {
        const std::string expert = layer + "block_sparse_moe.experts." + std::to_string(e) + ".";
        if (!columns(expert + "w1", plan.intermediate_per_rank) ||
            !columns(expert + "w3", plan.intermediate_per_rank) ||
            !rows(expert + "w2", plan.intermediate_per_rank)) {
          return std::nullopt;
        }
      }
    }
    if (!columns("lm_head", plan.vocab_per_rank)) return std::nullopt;
    return plan;
  }

 private:
  bool columns(const std::string& module, int64_t rows_per_rank) {
    if (tp_ == 1) return true;
    const LinearScheme s = quant_.resolve(module);
    const int64_t align = row_alignment(s);
    if (rows_per_rank % align == 0) return true;
    fail(module + " (" + s.label() + ") gives each rank " + std::to_string(rows_per_rank) +
         " output rows, not a multiple of its " + std::to_string(align) + "-row scale blocks");
    return false;
  }
  bool rows(const std::string& module, int64_t columns_per_rank) {
    if (tp_ == 1) return true;
    const LinearScheme s = quant_.resolve(module);
    if (s.has_g_idx) {
      fail(module + " (" + s.label() +
           ") is activation-ordered (g_idx): its columns cannot be split");
      return false;
    }
    const int64_t align = column_alignment(s);
    if (columns_per_rank % align == 0) return true;
    fail(module + " (" + s.label() + ") gives each rank " + std::to_string(columns_per_rank) +
         " input columns, not a multiple of " + std::to_string(align) +
         " (its quantization group, block or packing)");
    return false;
  }
  std::nullopt_t fail(const std::string& what) {
    if (why_ != nullptr) *why_ = "tensor parallel size " + std::to_string(tp_) + ": " + what;
    return std::nullopt;
  }

  const ModelConfig& config_;
  const QuantConfig& quant_;
  int tp_;
  std::string* why_;
};

}  // namespace

std::optional<TensorParallelPlan> plan_tensor_parallel(const ModelConfig& config,
                                                       const QuantConfig& quant, int tp,
                                                       std::string* why) {
  return Planner(config, quant, tp, why).run();
}

std::vector<int> workable_tensor_parallel_sizes(const ModelConfig& config, const QuantConfig& quant,
                                                int max_tp) {
  std::vector<int> out;
  for (int tp = 1; tp <= max_tp; ++tp) {
    if (plan_tensor_parallel(config, quant, tp)) out.push_back(tp);
  }
  return out;
}

}  // namespace mm
