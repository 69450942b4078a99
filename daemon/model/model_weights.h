// Every tensor of a MiniMax-M2 checkpoint bound to its place in the model (minimax-m2.md §2),
// with its precision scheme decided and its shape and dtype checked. Immutable once built;
// safe to read from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/model/checkpoint.h"
#include "daemon/model/linear_scheme.h"
#include "daemon/model/model_config.h"
#include "daemon/model/quant_config.h"

namespace mm {

struct LinearWeights {
  std::string name;  // module name, e.g. "model.layers.0.self_attn.q_proj"
  LinearScheme scheme;
  int64_t out_features = 0;  // N
  int64_t in_features = 0;   // K
  TensorRef weight;          // `weight` (dense, FP8, INT8) or `weight_packed`
  TensorRef scale;           // `weight_scale` / `weight_scale_inv`
  TensorRef zero_point;      // `weight_zero_point` (asymmetric, or Quark's zeros)
  TensorRef g_idx;           // `weight_g_idx`
  TensorRef shape;           // `weight_shape` (pack-quantized)

  uint64_t num_bytes() const;  // bytes of all its tensors on disk
  int64_t num_params() const { return out_features * in_features; }
};

struct ExpertWeights {
  LinearWeights w1;  // gate projection [intermediate, hidden]
  LinearWeights w2;  // down projection [hidden, intermediate]
  LinearWeights w3;  // up projection [intermediate, hidden]
};

struct LayerWeights {
  TensorRef input_norm;      // [hidden]
  TensorRef post_attn_norm;  // [hidden]
  TensorRef q_norm;          // [heads * head_dim]: one norm over all heads
  TensorRef k_norm;          // [kv_heads * head_dim]
  LinearWeights q_proj, k_proj, v_proj, o_proj;
  LinearWeights router;   // block_sparse_moe.gate [experts, hidden], never quantized
  TensorRef router_bias;  // e_score_correction_bias [experts]
  std::vector<ExpertWeights> experts;
  TensorRef k_scale, v_scale;  // FP8 KV cache scales, when the checkpoint declares them
};

struct ModelWeights {
  TensorRef embed;       // [vocab, hidden]
  TensorRef final_norm;  // [hidden]
  LinearWeights lm_head;
  std::vector<LayerWeights> layers;
  // Tensors of multi-token-prediction modules (layers past num_hidden_layers): present in
  // some exports, unused by mmd.
  std::vector<TensorRef> mtp_tensors;
};

// Binds and checks every tensor. Throws LoadError naming the tensor (and its shard) that is
// missing, unexpected, or of the wrong shape or dtype, or the module whose scheme mmd cannot run.
ModelWeights bind_model_weights(const Checkpoint& checkpoint, const ModelConfig& config,
                                const QuantConfig& quant);

// Reads every scale and norm tensor of `weights` once (norm gains, the routing bias, KV cache
// scales, the weight scales of every quantized Linear): NaN or infinite elements anywhere,
// negative scales, and scale tensors that are zero throughout are refused. Throws LoadError
// naming the shard, the tensor and the element index. A few percent of the load's bytes at
// most (the scales), read at memory speed.
void check_weight_values(const Checkpoint& checkpoint, const ModelWeights& weights);

}  // namespace mm
