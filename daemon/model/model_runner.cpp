#include "daemon/model/model_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "daemon/model/checkpoint.h"
#include "daemon/model/load_error.h"
#include "daemon/model/quant_config.h"
#include "daemon/model/weight_packing.h"
#include "kernels/cpu/cpu_backend.h"

namespace mm {

struct ModelRunner::Layer {
  std::vector<float> input_norm, post_attn_norm, q_norm, k_norm;
  PackedLinear q_proj, k_proj, v_proj, o_proj, router;
  std::vector<float> router_bias;  // empty when use_routing_bias is false
  MoeWeights experts;
};

namespace {

// Scratch slots of the forward, one Buffer each (grown on demand, kept between steps).
enum Slot : int {
  kResidual,
  kNormed,
  kQ,
  kK,
  kV,
  kAttn,
  kProj,
  kRouterLogits,
  kTopkIds,
  kTopkWeights,
  kMoeOut,
  kFinalRows,
  kLogits,
  kIndices,
  kNumSlots
};

float scalar_scale(const Checkpoint& checkpoint, TensorRef ref, const std::string& what) {
  if (!ref) return 1.0f;
  const std::vector<float> values = load_f32_vector(checkpoint, ref);
  for (float v : values) {
    if (v != values.front()) {
      throw LoadError(checkpoint.shard_name(ref) + ": tensor '" + ref.info->name + "' (" + what +
                      ") has per-head values; the CPU KV cache takes one scale per layer");
    }
  }
  if (!(values.front() > 0)) {
    throw LoadError(checkpoint.shard_name(ref) + ": tensor '" + ref.info->name + "' (" + what +
                    ") is not a positive scale");
  }
  return values.front();
}

}  // namespace

std::unique_ptr<ModelRunner> ModelRunner::load(const std::filesystem::path& folder,
                                               const RunnerOptions& options) {
  const Checkpoint checkpoint(folder);
  const std::string config_file = (folder / "config.json").string();
  const std::optional<std::string> text = checkpoint.read_text_file("config.json");
  if (!text) throw LoadError(config_file + ": missing");
  const ModelConfig config = parse_model_config(*text, config_file);
  const QuantConfig quant = QuantConfig::parse(*text, config_file);
  const ModelWeights weights = bind_model_weights(checkpoint, config, quant);
  return std::make_unique<ModelRunner>(checkpoint, config, weights, options,
                                       std::make_unique<CpuBackend>(options.num_threads));
}

ModelRunner::ModelRunner(const Checkpoint& checkpoint, const ModelConfig& config,
                         const ModelWeights& weights, const RunnerOptions& options,
                         std::unique_ptr<Backend> backend)
    : config_(config), options_(options), backend_(std::move(backend)) {
  const int64_t hd = config.head_dim;
  plan_.q_heads_per_rank = config.num_attention_heads;
  plan_.kv_heads_per_rank = config.num_key_value_heads;
  plan_.intermediate_per_rank = config.intermediate_size;
  plan_.vocab_per_rank = config.vocab_size;
  if (options.comm != nullptr && options.comm->size() > 1) {
    tp_ = options.comm->size();
    rank_ = options.comm->rank();
    const std::string config_file = checkpoint.folder().string() + "/config.json";
    const QuantConfig quant =
        QuantConfig::parse(*checkpoint.read_text_file("config.json"), config_file);
    std::string why;
    const auto plan = plan_tensor_parallel(config, quant, tp_, &why);
    if (!plan) throw LoadError(config_file + ": " + why);
    plan_ = *plan;
  }
  // This rank's slices (the whole tensors on one rank).
  const int64_t q_rows = plan_.q_heads_per_rank * hd;
  const int64_t q_begin = rank_ * q_rows;
  const int64_t kv_rows = plan_.kv_heads_per_rank * hd;
  const int64_t kv_begin = (plan_.kv_head_replicas > 1 ? rank_ / plan_.kv_head_replicas
                                                       : rank_ * plan_.kv_heads_per_rank) *
                           hd;
  const int64_t inter = plan_.intermediate_per_rank;
  // One rank keeps each packed tensor as it is (moved, not copied).
  auto cut = [&](PackedLinear (*slice)(const PackedLinear&, int64_t, int64_t), PackedLinear w,
                 int64_t begin, int64_t end) -> PackedLinear {
    if (tp_ == 1) return w;
    try {
      return slice(w, begin, end);
    } catch (const std::invalid_argument& error) {
      throw LoadError(checkpoint.folder().string() + ": tensor parallel size " +
                      std::to_string(tp_) + ": " + error.what());
    }
  };
  auto rows = [&](PackedLinear w, int64_t begin, int64_t count) {
    const int64_t end = std::min(begin + count, w.num_rows);
    return cut(&slice_rows, std::move(w), begin, end);
  };
  auto columns = [&](PackedLinear w, int64_t begin, int64_t count) {
    const int64_t end = std::min(begin + count, w.num_cols);
    return cut(&slice_columns, std::move(w), begin, end);
  };
  auto gains = [&](std::vector<float> g, int64_t begin, int64_t count) {
    if (tp_ == 1) return g;
    return std::vector<float>(g.begin() + begin, g.begin() + begin + count);
  };

  const TensorView embed = checkpoint.view(weights.embed);
  if (embed.dtype() != DType::kBF16) {
    throw LoadError(checkpoint.shard_name(weights.embed) + ": tensor '" + weights.embed.info->name +
                    "' is " + std::string(dtype_name(embed.dtype())) +
                    "; the embedding must be BF16");
  }
  embed_.resize(embed.num_bytes() / 2);
  std::memcpy(embed_.data(), embed.data, embed.num_bytes());
  final_norm_ = load_f32_vector(checkpoint, weights.final_norm);
  lm_head_ = rows(pack_linear(checkpoint, weights.lm_head), rank_ * plan_.vocab_per_rank,
                  plan_.vocab_per_rank);
  weight_bytes_ = embed.num_bytes() + lm_head_.num_bytes();

  std::vector<float> k_scales, v_scales;
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    const LayerWeights& src = weights.layers[l];
    Layer layer;
    layer.input_norm = load_f32_vector(checkpoint, src.input_norm);
    layer.post_attn_norm = load_f32_vector(checkpoint, src.post_attn_norm);
    layer.q_norm = gains(load_f32_vector(checkpoint, src.q_norm), q_begin, q_rows);
    layer.k_norm = gains(load_f32_vector(checkpoint, src.k_norm), kv_begin, kv_rows);
    layer.q_proj = rows(pack_linear(checkpoint, src.q_proj), q_begin, q_rows);
    layer.k_proj = rows(pack_linear(checkpoint, src.k_proj), kv_begin, kv_rows);
    layer.v_proj = rows(pack_linear(checkpoint, src.v_proj), kv_begin, kv_rows);
    layer.o_proj = columns(pack_linear(checkpoint, src.o_proj), q_begin, q_rows);
    layer.router = pack_linear(checkpoint, src.router);
    if (src.router_bias) layer.router_bias = load_f32_vector(checkpoint, src.router_bias);
    layer.experts.intermediate_size = inter;
    for (const ExpertWeights& expert : src.experts) {
      layer.experts.w1.push_back(rows(pack_linear(checkpoint, expert.w1), rank_ * inter, inter));
      layer.experts.w3.push_back(rows(pack_linear(checkpoint, expert.w3), rank_ * inter, inter));
      layer.experts.w2.push_back(columns(pack_linear(checkpoint, expert.w2), rank_ * inter, inter));
    }
    for (PackedLinear* w :
         {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router}) {
      weight_bytes_ += w->num_bytes();
      w->int8_activations = w->int8_activations && options.runtime_activation_quant;
    }
    for (auto* list : {&layer.experts.w1, &layer.experts.w3, &layer.experts.w2}) {
      for (PackedLinear& w : *list)
        w.int8_activations = w.int8_activations && options.runtime_activation_quant;
    }
    for (size_t e = 0; e < layer.experts.w1.size(); ++e) {
      weight_bytes_ += layer.experts.w1[e].num_bytes() + layer.experts.w3[e].num_bytes() +
                       layer.experts.w2[e].num_bytes();
    }
    k_scales.push_back(scalar_scale(checkpoint, src.k_scale, "k_scale"));
    v_scales.push_back(scalar_scale(checkpoint, src.v_scale, "v_scale"));
    layers_.push_back(std::move(layer));
    if (options.on_load_progress) {
      options.on_load_progress(static_cast<double>(l + 1) /
                               static_cast<double>(weights.layers.size()));
    }
  }

  KvCacheShape shape;
  shape.num_layers = config.num_hidden_layers;
  shape.num_blocks = options.num_kv_blocks;
  shape.block_size = options.block_size;
  shape.num_kv_heads = static_cast<int>(plan_.kv_heads_per_rank);
  shape.head_dim = static_cast<int>(config.head_dim);
  kv_cache_ = std::make_unique<KvCache>(*backend_, shape, options.kv_dtype, k_scales, v_scales);
  scratch_.resize(kNumSlots);
}

ModelRunner::~ModelRunner() = default;

void ModelRunner::sharded_qk_norm(const Layer& layer, float* q, float* k, int64_t num_tokens) {
  const int64_t hd = config_.head_dim;
  const int64_t q_width = plan_.q_heads_per_rank * hd;
  const int64_t k_width = plan_.kv_heads_per_rank * hd;
  const auto eps = static_cast<float>(config_.rms_norm_eps);
  // Local sums of squares in f64 (as the one-rank norm), summed across ranks in f32; a KV head
  // held by several ranks counts once.
  std::vector<float> sums(static_cast<size_t>(2 * num_tokens));
  for (int64_t r = 0; r < num_tokens; ++r) {
    double sq = 0, sk = 0;
    for (int64_t i = 0; i < q_width; ++i)
      sq += static_cast<double>(q[r * q_width + i]) * q[r * q_width + i];
    for (int64_t i = 0; i < k_width; ++i)
      sk += static_cast<double>(k[r * k_width + i]) * k[r * k_width + i];
    sums[static_cast<size_t>(r)] = static_cast<float>(sq);
    sums[static_cast<size_t>(num_tokens + r)] = static_cast<float>(sk / plan_.kv_head_replicas);
  }
  options_.comm->all_reduce_sum(sums);
  auto apply = [&](float* x, int64_t width, const std::vector<float>& gain, float sum,
                   int64_t full_width) {
    const float inv = 1.0f / std::sqrt(sum / static_cast<float>(full_width) + eps);
    for (int64_t i = 0; i < width; ++i)
      x[i] = gain[static_cast<size_t>(i)] * (x[i] * inv);
  };
  for (int64_t r = 0; r < num_tokens; ++r) {
    apply(q + r * q_width, q_width, layer.q_norm, sums[static_cast<size_t>(r)], config_.q_size());
    apply(k + r * k_width, k_width, layer.k_norm, sums[static_cast<size_t>(num_tokens + r)],
          config_.kv_size());
  }
}

float* ModelRunner::scratch(int slot, size_t num_floats) {
  auto& buffer = scratch_[static_cast<size_t>(slot)];
  const size_t bytes = std::max<size_t>(num_floats, 1) * sizeof(float);
  if (!buffer || buffer->num_bytes() < bytes) buffer = backend_->allocate(bytes);
  return buffer->f32();
}

void ModelRunner::check_batch(const ForwardBatch& batch) const {
  const size_t n = batch.token_ids.size();
  if (batch.positions.size() != n || batch.seq_of_token.size() != n ||
      batch.slot_mapping.size() != n) {
    throw std::invalid_argument("forward batch: token_ids has " + std::to_string(n) +
                                " entries but positions/seq_of_token/slot_mapping have " +
                                std::to_string(batch.positions.size()) + "/" +
                                std::to_string(batch.seq_of_token.size()) + "/" +
                                std::to_string(batch.slot_mapping.size()));
  }
  const int64_t num_slots = options_.num_kv_blocks * options_.block_size;
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "forward batch: token " + std::to_string(i) + ": ";
    if (batch.token_ids[i] < 0 || batch.token_ids[i] >= config_.vocab_size) {
      throw std::invalid_argument(at + "token id " + std::to_string(batch.token_ids[i]) +
                                  " outside [0, " + std::to_string(config_.vocab_size) + ")");
    }
    if (batch.slot_mapping[i] < 0 || batch.slot_mapping[i] >= num_slots) {
      throw std::invalid_argument(at + "slot " + std::to_string(batch.slot_mapping[i]) +
                                  " outside the cache's " + std::to_string(num_slots) + " slots");
    }
    const int32_t seq = batch.seq_of_token[i];
    if (seq < 0 || seq >= batch.num_seqs()) {
      throw std::invalid_argument(at + "sequence index " + std::to_string(seq) +
                                  " has no block table");
    }
    const auto& table = batch.block_tables[static_cast<size_t>(seq)];
    const int64_t needed = batch.positions[i] / options_.block_size + 1;
    if (batch.positions[i] < 0 || static_cast<int64_t>(table.size()) < needed) {
      throw std::invalid_argument(at + "position " + std::to_string(batch.positions[i]) +
                                  " is not covered by the block table of sequence " +
                                  std::to_string(seq) + " (" + std::to_string(table.size()) +
                                  " blocks)");
    }
    for (int64_t b = 0; b < needed; ++b) {
      const int32_t block = table[static_cast<size_t>(b)];
      if (block < 0 || block >= options_.num_kv_blocks) {
        throw std::invalid_argument(at + "block " + std::to_string(block) + " of sequence " +
                                    std::to_string(seq) + " outside [0, " +
                                    std::to_string(options_.num_kv_blocks) + ")");
      }
    }
  }
  for (int32_t index : batch.logits_indices) {
    if (index < 0 || static_cast<size_t>(index) >= n) {
      throw std::invalid_argument("forward batch: logits index " + std::to_string(index) +
                                  " outside [0, " + std::to_string(n) + ")");
    }
  }
}

std::vector<float> ModelRunner::forward(const ForwardBatch& batch, const IntermediateHook& hook) {
  check_batch(batch);
  const int64_t t = batch.num_tokens();
  const int64_t hidden = config_.hidden_size;
  // This rank's share of the heads (all of them on one rank).
  const int64_t q_size = plan_.q_heads_per_rank * config_.head_dim;
  const int64_t kv_size = plan_.kv_heads_per_rank * config_.head_dim;
  const int64_t num_experts = config_.num_local_experts;
  const int64_t top_k = config_.num_experts_per_tok;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const auto ut = static_cast<size_t>(t);
  Backend& be = *backend_;

  // Flattened block tables [num_seqs, max_blocks] for the kernels.
  size_t max_blocks = 1;
  for (const auto& table : batch.block_tables)
    max_blocks = std::max(max_blocks, table.size());
  std::vector<int32_t> tables(batch.block_tables.size() * max_blocks, 0);
  for (size_t s = 0; s < batch.block_tables.size(); ++s) {
    std::copy(batch.block_tables[s].begin(), batch.block_tables[s].end(),
              tables.begin() + static_cast<ptrdiff_t>(s * max_blocks));
  }
  AttentionMetadata meta;
  meta.num_tokens = t;
  meta.positions = batch.positions.data();
  meta.seq_of_token = batch.seq_of_token.data();
  meta.slot_mapping = batch.slot_mapping.data();
  meta.block_tables = tables.data();
  meta.max_num_blocks_per_seq = static_cast<int64_t>(max_blocks);

  auto report = [&](const std::string& name, const float* data, int64_t cols) {
    if (hook) hook(name, data, t, cols);
  };

  float* x = scratch(kResidual, ut * hidden);
  float* normed = scratch(kNormed, ut * hidden);
  float* q = scratch(kQ, ut * q_size);
  float* k = scratch(kK, ut * kv_size);
  float* v = scratch(kV, ut * kv_size);
  float* attn = scratch(kAttn, ut * q_size);
  float* proj = scratch(kProj, ut * hidden);
  float* router_logits = scratch(kRouterLogits, ut * num_experts);
  auto* topk_ids = reinterpret_cast<int32_t*>(scratch(kTopkIds, ut * top_k));
  float* topk_weights = scratch(kTopkWeights, ut * top_k);
  float* moe_out = scratch(kMoeOut, ut * hidden);

  uint64_t bytes_read = static_cast<uint64_t>(t * hidden * 2);  // embedding rows
  std::vector<char> expert_used(static_cast<size_t>(num_experts));
  be.embedding(embed_.data(), config_.vocab_size, hidden, batch.token_ids.data(), t, x);
  report("embed", x, hidden);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    const std::string prefix = "layer." + std::to_string(l) + ".";
    const KvLayerView cache = kv_cache_->layer(static_cast<int64_t>(l));

    be.rms_norm(x, layer.input_norm.data(), t, hidden, eps, normed);
    report(prefix + "attn_norm", normed, hidden);
    be.linear(layer.q_proj, normed, t, q);
    be.linear(layer.k_proj, normed, t, k);
    be.linear(layer.v_proj, normed, t, v);
    // Full-width q/k norm: one RMS over all heads together (§3.3 step 2), then RoPE.
    if (tp_ > 1) {
      sharded_qk_norm(layer, q, k, t);
    } else {
      be.rms_norm(q, layer.q_norm.data(), t, q_size, eps, q);
      be.rms_norm(k, layer.k_norm.data(), t, kv_size, eps, k);
    }
    be.rope_neox(q, batch.positions.data(), t, plan_.q_heads_per_rank, config_.head_dim,
                 config_.rotary_dim, config_.rope_theta);
    be.rope_neox(k, batch.positions.data(), t, plan_.kv_heads_per_rank, config_.head_dim,
                 config_.rotary_dim, config_.rope_theta);
    be.kv_write(cache, meta, k, v);
    be.paged_attention(cache, meta, q, plan_.q_heads_per_rank, attn);
    be.linear(layer.o_proj, attn, t, proj);
    if (tp_ > 1)
      options_.comm->all_reduce_sum(std::span<float>(proj, ut * hidden));  // row-parallel
    report(prefix + "attn_out", proj, hidden);
    be.add(x, proj, t * hidden, x);

    be.rms_norm(x, layer.post_attn_norm.data(), t, hidden, eps, normed);
    report(prefix + "moe_norm", normed, hidden);
    be.linear(layer.router, normed, t, router_logits);
    report(prefix + "router_logits", router_logits, num_experts);
    be.router_topk(router_logits, layer.router_bias.empty() ? nullptr : layer.router_bias.data(), t,
                   num_experts, top_k, topk_ids, topk_weights);
    be.moe(layer.experts, normed, t, hidden, topk_ids, topk_weights, top_k, moe_out);
    // Each rank ran its slice of every expert's intermediate dimension.
    if (tp_ > 1) options_.comm->all_reduce_sum(std::span<float>(moe_out, ut * hidden));
    // Host-visible ids on the CPU backend; a device backend would count on the device.
    std::fill(expert_used.begin(), expert_used.end(), 0);
    for (int64_t i = 0; i < t * top_k; ++i)
      expert_used[static_cast<size_t>(topk_ids[i])] = 1;
    for (const PackedLinear* w :
         {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router}) {
      bytes_read += w->num_bytes();
    }
    for (size_t e = 0; e < expert_used.size(); ++e) {
      if (expert_used[e] == 0) continue;
      bytes_read += layer.experts.w1[e].num_bytes() + layer.experts.w3[e].num_bytes() +
                    layer.experts.w2[e].num_bytes();
    }
    report(prefix + "moe_out", moe_out, hidden);
    be.add(x, moe_out, t * hidden, x);
    report(prefix + "out", x, hidden);
  }

  if (hook) {
    be.rms_norm(x, final_norm_.data(), t, hidden, eps, normed);
    report("final_norm", normed, hidden);
  }
  // lm_head only for the rows that want logits.
  const auto num_rows = static_cast<int64_t>(batch.logits_indices.size());
  float* rows = scratch(kFinalRows, static_cast<size_t>(num_rows * hidden));
  for (int64_t r = 0; r < num_rows; ++r) {
    const float* src =
        x + static_cast<int64_t>(batch.logits_indices[static_cast<size_t>(r)]) * hidden;
    std::copy(src, src + hidden, rows + r * hidden);
  }
  be.rms_norm(rows, final_norm_.data(), num_rows, hidden, eps, rows);
  std::vector<float> logits(static_cast<size_t>(num_rows * config_.vocab_size));
  if (tp_ == 1) {
    be.linear(lm_head_, rows, num_rows, logits.data());
  } else {
    // Each rank's vocabulary slice (the last one padded), gathered rank by rank, then laid out
    // row by row.
    const int64_t slice = plan_.vocab_per_rank;
    std::vector<float> mine(static_cast<size_t>(num_rows * slice), 0.0f);
    std::vector<float> local(static_cast<size_t>(num_rows * lm_head_.num_rows));
    be.linear(lm_head_, rows, num_rows, local.data());
    for (int64_t r = 0; r < num_rows; ++r)
      std::copy_n(local.begin() + r * lm_head_.num_rows, lm_head_.num_rows,
                  mine.begin() + r * slice);
    std::vector<float> all(mine.size() * static_cast<size_t>(tp_));
    options_.comm->all_gather(mine, all);
    for (int rank = 0; rank < tp_; ++rank) {
      const int64_t first = rank * slice;
      const int64_t count = std::min(slice, config_.vocab_size - first);
      for (int64_t r = 0; r < num_rows && count > 0; ++r) {
        std::copy_n(all.begin() + (rank * num_rows + r) * slice, count,
                    logits.begin() + r * config_.vocab_size + first);
      }
    }
  }
  if (num_rows > 0) bytes_read += lm_head_.num_bytes();
  last_forward_weight_bytes_ = bytes_read;
  return logits;
}

}  // namespace mm
