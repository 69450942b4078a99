#include "daemon/model/model_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "daemon/model/checkpoint.h"
#include "daemon/model/load_error.h"
#include "daemon/model/quant_config.h"
#include "daemon/model/weight_packing.h"
#include "kernels/backend_factory.h"

namespace mm {

// One decoder layer's weights, resident in the backend's memory.
struct ModelRunner::Layer {
  std::unique_ptr<Buffer> input_norm, post_attn_norm, q_norm, k_norm;  // f32 gains
  PackedLinear q_proj, k_proj, v_proj, o_proj, router;
  std::unique_ptr<Buffer> router_bias;  // f32 [num_experts]; null when use_routing_bias is false
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
  kMetadata,    // the step's ids, positions, slots, block tables and logits rows
  kNormSums,    // tensor parallel: per-row sums of squares of q and k
  kGatherMine,  // tensor parallel: this rank's lm_head slice, padded
  kGatherAll,   // tensor parallel: every rank's slice
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

std::unique_ptr<Buffer> upload_f32(Backend& backend, const std::vector<float>& values) {
  return backend.upload(values.data(), values.size() * sizeof(float));
}

// A load's progress once the shard headers are read (8 bytes of length and the JSON each).
LoadProgress headers_read(const Checkpoint& checkpoint) {
  LoadProgress progress;
  progress.bytes_total = checkpoint.total_file_bytes();
  for (const SafetensorsFile& shard : checkpoint.shards())
    progress.bytes_done += shard.data_offset();
  return progress;
}

}  // namespace

std::unique_ptr<ModelRunner> ModelRunner::load(const std::filesystem::path& folder,
                                               const RunnerOptions& options) {
  const Checkpoint checkpoint(folder);
  // The headers are read: the total is known.
  if (options.on_load_progress) options.on_load_progress(headers_read(checkpoint));
  const std::string config_file = (folder / "config.json").string();
  const std::optional<std::string> text = checkpoint.read_text_file("config.json");
  if (!text) throw LoadError(config_file + ": missing");
  const ModelConfig config = parse_model_config(*text, config_file);
  const QuantConfig quant = QuantConfig::parse(*text, config_file);
  const ModelWeights weights = bind_model_weights(checkpoint, config, quant);
  // Before anything is packed: a NaN scale would otherwise load and generate garbage.
  check_weight_values(checkpoint, weights);
  check_runnable(checkpoint, weights);
  std::unique_ptr<Backend> backend;
  try {
    backend = make_backend(options.device, options.num_threads, options.cpu_numerics);
  } catch (const std::exception& error) {
    throw LoadError(error.what());
  }
  return std::make_unique<ModelRunner>(checkpoint, config, weights, options, std::move(backend));
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

  // Load progress: the shard headers were read when the checkpoint opened; each tensor counts
  // once (a tied lm_head is the embedding) when what reads it is done.
  LoadProgress progress = headers_read(checkpoint);
  std::unordered_set<const TensorInfo*> counted;
  auto count = [&](TensorRef ref) {
    if (ref && counted.insert(ref.info).second) progress.bytes_done += ref.info->num_bytes();
  };
  auto count_linear = [&](const LinearWeights& w) {
    for (const TensorRef& ref : {w.weight, w.scale, w.zero_point, w.g_idx, w.shape})
      count(ref);
  };
  auto report = [&] {
    if (options.on_load_progress) options.on_load_progress(progress);
  };
  report();

  const TensorView embed = checkpoint.view(weights.embed);
  if (embed.dtype() != DType::kBF16) {
    throw LoadError(checkpoint.shard_name(weights.embed) + ": tensor '" + weights.embed.info->name +
                    "' is " + std::string(dtype_name(embed.dtype())) +
                    "; the embedding must be BF16");
  }
  Backend& be = *backend_;
  embed_ = be.upload(embed.data, embed.num_bytes());
  final_norm_ = upload_f32(be, load_f32_vector(checkpoint, weights.final_norm));
  lm_head_ = rows(pack_linear(checkpoint, weights.lm_head), rank_ * plan_.vocab_per_rank,
                  plan_.vocab_per_rank);
  be.make_resident(lm_head_);
  weight_bytes_ = embed.num_bytes() + lm_head_.num_bytes();
  count(weights.embed);
  count(weights.final_norm);
  count_linear(weights.lm_head);
  report();

  std::vector<float> k_scales, v_scales;
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    const LayerWeights& src = weights.layers[l];
    Layer layer;
    layer.input_norm = upload_f32(be, load_f32_vector(checkpoint, src.input_norm));
    layer.post_attn_norm = upload_f32(be, load_f32_vector(checkpoint, src.post_attn_norm));
    layer.q_norm = upload_f32(be, gains(load_f32_vector(checkpoint, src.q_norm), q_begin, q_rows));
    layer.k_norm =
        upload_f32(be, gains(load_f32_vector(checkpoint, src.k_norm), kv_begin, kv_rows));
    layer.q_proj = rows(pack_linear(checkpoint, src.q_proj), q_begin, q_rows);
    layer.k_proj = rows(pack_linear(checkpoint, src.k_proj), kv_begin, kv_rows);
    layer.v_proj = rows(pack_linear(checkpoint, src.v_proj), kv_begin, kv_rows);
    layer.o_proj = columns(pack_linear(checkpoint, src.o_proj), q_begin, q_rows);
    layer.router = pack_linear(checkpoint, src.router);
    if (src.router_bias)
      layer.router_bias = upload_f32(be, load_f32_vector(checkpoint, src.router_bias));
    layer.experts.intermediate_size = inter;
    for (const ExpertWeights& expert : src.experts) {
      layer.experts.w1.push_back(rows(pack_linear(checkpoint, expert.w1), rank_ * inter, inter));
      layer.experts.w3.push_back(rows(pack_linear(checkpoint, expert.w3), rank_ * inter, inter));
      layer.experts.w2.push_back(columns(pack_linear(checkpoint, expert.w2), rank_ * inter, inter));
    }
    for (PackedLinear* w :
         {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router}) {
      w->int8_activations = w->int8_activations && options.runtime_activation_quant;
      be.make_resident(*w);
      weight_bytes_ += w->num_bytes();
    }
    for (auto* list : {&layer.experts.w1, &layer.experts.w3, &layer.experts.w2}) {
      for (PackedLinear& w : *list) {
        w.int8_activations = w.int8_activations && options.runtime_activation_quant;
        be.make_resident(w);
      }
    }
    be.make_resident(layer.experts);
    for (size_t e = 0; e < layer.experts.w1.size(); ++e) {
      weight_bytes_ += layer.experts.w1[e].num_bytes() + layer.experts.w3[e].num_bytes() +
                       layer.experts.w2[e].num_bytes();
    }
    k_scales.push_back(scalar_scale(checkpoint, src.k_scale, "k_scale"));
    v_scales.push_back(scalar_scale(checkpoint, src.v_scale, "v_scale"));
    layers_.push_back(std::move(layer));
    for (const TensorRef& ref : {src.input_norm, src.post_attn_norm, src.q_norm, src.k_norm,
                                 src.router_bias, src.k_scale, src.v_scale})
      count(ref);
    for (const LinearWeights* w : {&src.q_proj, &src.k_proj, &src.v_proj, &src.o_proj, &src.router})
      count_linear(*w);
    for (const ExpertWeights& expert : src.experts) {
      count_linear(expert.w1);
      count_linear(expert.w2);
      count_linear(expert.w3);
    }
    report();
  }

  KvCacheShape shape;
  shape.num_layers = config.num_hidden_layers;
  shape.num_blocks = options.num_kv_blocks;
  shape.block_size = options.block_size;
  shape.num_kv_heads = static_cast<int>(plan_.kv_heads_per_rank);
  shape.head_dim = static_cast<int>(config.head_dim);
  kv_cache_ = std::make_unique<KvCache>(*backend_, shape, options.kv_dtype, k_scales, v_scales);
  scratch_.resize(kNumSlots);
  // What is left is what mmd does not read (multi-token-prediction tensors): the load is done.
  progress.bytes_done = progress.bytes_total;
  report();
}

ModelRunner::~ModelRunner() = default;

void ModelRunner::sharded_qk_norm(const Layer& layer, float* q, float* k, int64_t num_tokens) {
  const int64_t hd = config_.head_dim;
  const int64_t q_width = plan_.q_heads_per_rank * hd;
  const int64_t k_width = plan_.kv_heads_per_rank * hd;
  const auto eps = static_cast<float>(config_.rms_norm_eps);
  // Local sums of squares (f64 inside each row, as the one-rank norm), summed across ranks in
  // f32; a KV head held by several ranks counts once.
  float* sums = scratch(kNormSums, static_cast<size_t>(2 * num_tokens));
  Backend& be = *backend_;
  be.sum_squares(q, num_tokens, q_width, 1.0, sums);
  be.sum_squares(k, num_tokens, k_width, 1.0 / static_cast<double>(plan_.kv_head_replicas),
                 sums + num_tokens);
  be.synchronize();  // the collective runs on its own stream (NCCL)
  options_.comm->all_reduce_sum(std::span<float>(sums, static_cast<size_t>(2 * num_tokens)));
  be.rms_norm_with_sums(q, layer.q_norm->f32(), sums, num_tokens, q_width, config_.q_size(), eps,
                        q);
  be.rms_norm_with_sums(k, layer.k_norm->f32(), sums + num_tokens, num_tokens, k_width,
                        config_.kv_size(), eps, k);
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

namespace {

// The step's host-side inputs packed into one block, copied to the backend in one transfer:
// slot_mapping (int64) first for alignment, then the int32 arrays.
struct StepMetadata {
  std::vector<std::byte> bytes;
  size_t slots = 0, token_ids = 0, positions = 0, seq_of_token = 0, tables = 0, logits_rows = 0;

  StepMetadata(const ForwardBatch& batch, size_t max_blocks) {
    const size_t t = batch.token_ids.size();
    slots = 0;
    token_ids = slots + t * sizeof(int64_t);
    positions = token_ids + t * sizeof(int32_t);
    seq_of_token = positions + t * sizeof(int32_t);
    tables = seq_of_token + t * sizeof(int32_t);
    logits_rows = tables + batch.block_tables.size() * max_blocks * sizeof(int32_t);
    bytes.resize(logits_rows + batch.logits_indices.size() * sizeof(int32_t));
    put(slots, batch.slot_mapping.data(), t * sizeof(int64_t));
    put(token_ids, batch.token_ids.data(), t * sizeof(int32_t));
    put(positions, batch.positions.data(), t * sizeof(int32_t));
    put(seq_of_token, batch.seq_of_token.data(), t * sizeof(int32_t));
    for (size_t s = 0; s < batch.block_tables.size(); ++s) {
      put(tables + s * max_blocks * sizeof(int32_t), batch.block_tables[s].data(),
          batch.block_tables[s].size() * sizeof(int32_t));
    }
    put(logits_rows, batch.logits_indices.data(), batch.logits_indices.size() * sizeof(int32_t));
  }
  void put(size_t offset, const void* src, size_t num_bytes) {
    if (num_bytes > 0) std::memcpy(bytes.data() + offset, src, num_bytes);
  }
};

}  // namespace

std::vector<float> ModelRunner::forward(const ForwardBatch& batch, const IntermediateHook& hook) {
  const std::span<float> logits = forward_in_place(batch, hook);
  return {logits.begin(), logits.end()};
}

std::span<float> ModelRunner::forward_in_place(const ForwardBatch& batch,
                                               const IntermediateHook& hook) {
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
  const auto num_layers = static_cast<int64_t>(layers_.size());
  Backend& be = *backend_;

  // The batch's metadata in backend memory; block tables flattened to [num_seqs, max_blocks].
  size_t max_blocks = 1;
  for (const auto& table : batch.block_tables)
    max_blocks = std::max(max_blocks, table.size());
  const StepMetadata staging(batch, max_blocks);
  auto* device_meta =
      reinterpret_cast<std::byte*>(scratch(kMetadata, (staging.bytes.size() + 3) / 4));
  be.copy_to_backend(device_meta, staging.bytes.data(), staging.bytes.size());
  auto device_ints = [&](size_t offset) {
    return reinterpret_cast<const int32_t*>(device_meta + offset);
  };
  const int32_t* token_ids = device_ints(staging.token_ids);
  const int32_t* positions = device_ints(staging.positions);
  const int32_t* logits_rows = device_ints(staging.logits_rows);
  AttentionMetadata meta;
  meta.num_tokens = t;
  meta.positions = positions;
  meta.seq_of_token = device_ints(staging.seq_of_token);
  meta.slot_mapping = reinterpret_cast<const int64_t*>(device_meta + staging.slots);
  meta.block_tables = device_ints(staging.tables);
  meta.max_num_blocks_per_seq = static_cast<int64_t>(max_blocks);

  std::vector<float> host_copy;
  auto report = [&](const std::string& name, const float* data, int64_t cols) {
    if (!hook) return;
    host_copy.resize(static_cast<size_t>(t * cols));
    be.copy_to_host(host_copy.data(), data, host_copy.size() * sizeof(float));
    hook(name, host_copy.data(), t, cols);
  };

  float* x = scratch(kResidual, ut * hidden);
  float* normed = scratch(kNormed, ut * hidden);
  float* q = scratch(kQ, ut * q_size);
  float* k = scratch(kK, ut * kv_size);
  float* v = scratch(kV, ut * kv_size);
  float* attn = scratch(kAttn, ut * q_size);
  float* proj = scratch(kProj, ut * hidden);
  float* router_logits = scratch(kRouterLogits, ut * num_experts);
  // Every layer's expert choices stay until the step ends, for the weight-bytes count below.
  auto* all_topk_ids =
      reinterpret_cast<int32_t*>(scratch(kTopkIds, static_cast<size_t>(num_layers) * ut * top_k));
  float* topk_weights = scratch(kTopkWeights, ut * top_k);
  float* moe_out = scratch(kMoeOut, ut * hidden);

  be.embedding(static_cast<const uint16_t*>(embed_->data()), config_.vocab_size, hidden, token_ids,
               t, x);
  report("embed", x, hidden);
  for (int64_t l = 0; l < num_layers; ++l) {
    const Layer& layer = layers_[static_cast<size_t>(l)];
    const std::string prefix = "layer." + std::to_string(l) + ".";
    const KvLayerView cache = kv_cache_->layer(l);
    int32_t* topk_ids = all_topk_ids + l * t * top_k;

    be.rms_norm(x, layer.input_norm->f32(), t, hidden, eps, normed);
    report(prefix + "attn_norm", normed, hidden);
    be.linear(layer.q_proj, normed, t, q);
    be.linear(layer.k_proj, normed, t, k);
    be.linear(layer.v_proj, normed, t, v);
    // Full-width q/k norm: one RMS over all heads together (§3.3 step 2), then RoPE.
    if (tp_ > 1) {
      sharded_qk_norm(layer, q, k, t);
    } else {
      be.rms_norm(q, layer.q_norm->f32(), t, q_size, eps, q);
      be.rms_norm(k, layer.k_norm->f32(), t, kv_size, eps, k);
    }
    be.rope_neox(q, positions, t, plan_.q_heads_per_rank, config_.head_dim, config_.rotary_dim,
                 config_.rope_theta);
    be.rope_neox(k, positions, t, plan_.kv_heads_per_rank, config_.head_dim, config_.rotary_dim,
                 config_.rope_theta);
    be.kv_write(cache, meta, k, v);
    be.paged_attention(cache, meta, q, plan_.q_heads_per_rank, attn);
    be.linear(layer.o_proj, attn, t, proj);
    if (tp_ > 1) {
      be.synchronize();  // o_proj must be done before the collective reads it
      options_.comm->all_reduce_sum(std::span<float>(proj, ut * hidden));  // row-parallel
    }
    report(prefix + "attn_out", proj, hidden);
    be.add(x, proj, t * hidden, x);

    be.rms_norm(x, layer.post_attn_norm->f32(), t, hidden, eps, normed);
    report(prefix + "moe_norm", normed, hidden);
    be.linear(layer.router, normed, t, router_logits);
    report(prefix + "router_logits", router_logits, num_experts);
    be.router_topk(router_logits, layer.router_bias ? layer.router_bias->f32() : nullptr, t,
                   num_experts, top_k, topk_ids, topk_weights);
    be.moe(layer.experts, normed, t, hidden, topk_ids, topk_weights, top_k, moe_out);
    // Each rank ran its slice of every expert's intermediate dimension.
    if (tp_ > 1) {
      be.synchronize();
      options_.comm->all_reduce_sum(std::span<float>(moe_out, ut * hidden));
    }
    report(prefix + "moe_out", moe_out, hidden);
    be.add(x, moe_out, t * hidden, x);
    report(prefix + "out", x, hidden);
  }

  if (hook) {
    be.rms_norm(x, final_norm_->f32(), t, hidden, eps, normed);
    report("final_norm", normed, hidden);
  }
  // lm_head only for the rows that want logits.
  const auto num_rows = static_cast<int64_t>(batch.logits_indices.size());
  const auto un = static_cast<size_t>(num_rows);
  float* rows = scratch(kFinalRows, un * hidden);
  be.gather_rows(x, hidden, logits_rows, num_rows, rows);
  be.rms_norm(rows, final_norm_->f32(), num_rows, hidden, eps, rows);
  const size_t num_logits = un * static_cast<size_t>(config_.vocab_size);
  float* device_logits = scratch(kLogits, un * static_cast<size_t>(lm_head_.num_rows));
  be.linear(lm_head_, rows, num_rows, device_logits);
  std::span<float> logits;
  if (tp_ == 1 && be.buffers_are_host_memory()) {
    be.synchronize();
    logits = {device_logits, num_logits};
  } else {
    // Grown, never shrunk: after the largest step no allocation or page fault is left.
    if (host_logits_.size() < num_logits) host_logits_.resize(num_logits);
    logits = {host_logits_.data(), num_logits};
  }
  if (tp_ == 1) {
    if (logits.data() != device_logits)
      be.copy_to_host(logits.data(), device_logits, logits.size() * sizeof(float));
  } else {
    // Each rank's vocabulary slice (the last one padded), gathered rank by rank, then laid out
    // row by row.
    const int64_t slice = plan_.vocab_per_rank;
    std::vector<float> local(un * static_cast<size_t>(lm_head_.num_rows));
    be.copy_to_host(local.data(), device_logits, local.size() * sizeof(float));
    std::vector<float> mine(un * static_cast<size_t>(slice), 0.0f);
    for (int64_t r = 0; r < num_rows; ++r)
      std::copy_n(local.begin() + r * lm_head_.num_rows, lm_head_.num_rows,
                  mine.begin() + r * slice);
    std::vector<float> all(mine.size() * static_cast<size_t>(tp_));
    float* device_mine = scratch(kGatherMine, mine.size());
    float* device_all = scratch(kGatherAll, all.size());
    be.copy_to_backend(device_mine, mine.data(), mine.size() * sizeof(float));
    be.synchronize();
    options_.comm->all_gather(std::span<const float>(device_mine, mine.size()),
                              std::span<float>(device_all, all.size()));
    be.copy_to_host(all.data(), device_all, all.size() * sizeof(float));
    for (int rank = 0; rank < tp_; ++rank) {
      const int64_t first = rank * slice;
      const int64_t count = std::min(slice, config_.vocab_size - first);
      for (int64_t r = 0; r < num_rows && count > 0; ++r) {
        std::copy_n(all.begin() + (rank * num_rows + r) * slice, count,
                    logits.begin() + r * config_.vocab_size + first);
      }
    }
  }

  // Weight bytes this step read (benchmarks only): the embedding rows, every dense Linear, the
  // experts some token was routed to, and the lm_head. The expert choices come back in one copy.
  last_forward_weight_bytes_ = 0;
  if (options_.count_weight_bytes) {
    uint64_t bytes_read = static_cast<uint64_t>(t * hidden * 2);
    std::vector<int32_t> chosen(static_cast<size_t>(num_layers * t * top_k));
    be.copy_to_host(chosen.data(), all_topk_ids, chosen.size() * sizeof(int32_t));
    std::vector<char> expert_used(static_cast<size_t>(num_experts));
    for (int64_t l = 0; l < num_layers; ++l) {
      const Layer& layer = layers_[static_cast<size_t>(l)];
      for (const PackedLinear* w :
           {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router}) {
        bytes_read += w->num_bytes();
      }
      std::fill(expert_used.begin(), expert_used.end(), 0);
      for (int64_t i = 0; i < t * top_k; ++i)
        expert_used[static_cast<size_t>(chosen[static_cast<size_t>(l * t * top_k + i)])] = 1;
      for (size_t e = 0; e < expert_used.size(); ++e) {
        if (expert_used[e] == 0) continue;
        bytes_read += layer.experts.w1[e].num_bytes() + layer.experts.w3[e].num_bytes() +
                      layer.experts.w2[e].num_bytes();
      }
    }
    if (num_rows > 0) bytes_read += lm_head_.num_bytes();
    last_forward_weight_bytes_ = bytes_read;
  }
  return logits;
}

}  // namespace mm
