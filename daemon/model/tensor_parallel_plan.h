// How a checkpoint splits over `tp` tensor-parallel ranks (minimax-m2.md's sharding; vLLM's
// layout): attention heads split (KV heads replicated when tp exceeds them), q/k/v and the
// experts' w1/w3 column-parallel, o_proj and w2 row-parallel, the lm_head split by vocabulary.
// A split must keep every quantization block whole: a column-parallel layer's rows per rank
// must be a multiple of its FP8 block rows; a row-parallel layer's columns per rank a multiple
// of its INT4 group, FP8 block columns, FP8 activation group and int4 packing (8 per int32).
// Pure functions of the parsed config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/model/model_config.h"
#include "daemon/model/quant_config.h"

namespace mm {

struct TensorParallelPlan {
  int tp = 1;
  int64_t q_heads_per_rank = 0;
  int64_t kv_heads_per_rank = 0;
  int kv_head_replicas = 1;  // ranks holding each KV head (> 1 when tp exceeds the KV heads)
  int64_t intermediate_per_rank = 0;
  int64_t vocab_per_rank = 0;  // the last rank's slice is padded when vocab_size % tp != 0
};

// The plan for `tp` ranks, or nullopt with `why` naming the first layer, scheme and sizes that
// do not split.
std::optional<TensorParallelPlan> plan_tensor_parallel(const ModelConfig& config,
                                                       const QuantConfig& quant, int tp,
                                                       std::string* why = nullptr);

// Every tp in [1, max_tp] that plans.
std::vector<int> workable_tensor_parallel_sizes(const ModelConfig& config, const QuantConfig& quant,
                                                int max_tp = 16);

}  // namespace mm
