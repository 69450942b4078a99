#include "daemon/model/model_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <unordered_set>

#include "daemon/model/load_error.h"

namespace mm {
namespace {

constexpr std::initializer_list<DType> kFloatDTypes = {DType::kBF16, DType::kF16, DType::kF32};

int64_t cdiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string dtypes_text(std::initializer_list<DType> dtypes) {
  std::string out;
  for (DType dtype : dtypes) {
    if (!out.empty()) out += " or ";
    out += dtype_name(dtype);
  }
  return out;
}

// Binds tensors by name and remembers which were used, so that leftovers can be reported.
class Binder {
 public:
  Binder(const Checkpoint& checkpoint, const QuantConfig& quant)
      : checkpoint_(checkpoint), quant_(quant) {}

  // `shapes` lists the accepted shapes (several where exporters differ, e.g. [N] vs [N, 1]).
  TensorRef require(const std::string& name, std::initializer_list<DType> dtypes,
                    std::initializer_list<std::vector<int64_t>> shapes, const std::string& why) {
    TensorRef ref = checkpoint_.find(name);
    if (!ref) {
      throw LoadError(checkpoint_.folder().string() + ": tensor '" + name + "' is missing" +
                      (why.empty() ? "" : " (" + why + ")"));
    }
    check(ref, dtypes, shapes, why);
    return ref;
  }

  TensorRef optional(const std::string& name, std::initializer_list<DType> dtypes,
                     std::initializer_list<std::vector<int64_t>> shapes, const std::string& why) {
    TensorRef ref = checkpoint_.find(name);
    if (ref) check(ref, dtypes, shapes, why);
    return ref;
  }

  void check(TensorRef ref, std::initializer_list<DType> dtypes,
             std::initializer_list<std::vector<int64_t>> shapes, const std::string& why) {
    const TensorInfo& info = *ref.info;
    const std::string where = checkpoint_.shard_name(ref) + ": tensor '" + info.name + "'";
    if (std::find(dtypes.begin(), dtypes.end(), info.dtype) == dtypes.end()) {
      throw LoadError(where + ": dtype " + std::string(dtype_name(info.dtype)) + ", expected " +
                      dtypes_text(dtypes) + (why.empty() ? "" : " (" + why + ")"));
    }
    if (shapes.size() != 0 && std::find(shapes.begin(), shapes.end(), info.shape) == shapes.end()) {
      throw LoadError(where + ": shape " + shape_text(info.shape) + ", expected " +
                      shape_text(*shapes.begin()) + (why.empty() ? "" : " (" + why + ")"));
    }
    used_.insert(ref.info);
  }

  LinearWeights linear(const std::string& module, int64_t out_features, int64_t in_features) {
    LinearWeights linear;
    linear.name = module;
    linear.scheme = quant_.resolve(module);
    linear.out_features = out_features;
    linear.in_features = in_features;
    const LinearScheme& scheme = linear.scheme;
    const std::string why = module + " is " + scheme.label() + " by " + scheme.origin;
    const int64_t n = out_features;
    const int64_t k = in_features;
    const std::string weight = module + ".weight";
    const std::string scale = module + "." + scheme.scale_suffix;

    switch (scheme.format) {
      case WeightFormat::kDense:
        linear.weight = require(weight, kFloatDTypes, {{n, k}}, why);
        break;
      case WeightFormat::kFp8:
        linear.weight = require(weight, {DType::kF8E4M3}, {{n, k}}, why);
        switch (scheme.strategy) {
          case ScaleStrategy::kBlock:
            linear.scale = require(scale, kFloatDTypes,
                                   {{cdiv(n, scheme.block_n), cdiv(k, scheme.block_k)}}, why);
            break;
          case ScaleStrategy::kChannel:
            linear.scale = require(scale, kFloatDTypes, {{n, 1}, {n}}, why);
            break;
          default:
            linear.scale = require(scale, kFloatDTypes, {{1}, {}}, why);
            break;
        }
        break;
      case WeightFormat::kIntPacked: {
        const int64_t words = cdiv(k * scheme.bits, 32);
        linear.weight = require(module + ".weight_packed", {DType::kI32}, {{n, words}}, why);
        const int64_t num_groups =
            scheme.strategy == ScaleStrategy::kGroup ? cdiv(k, scheme.group_size) : 1;
        linear.scale = require(scale, kFloatDTypes, {{n, num_groups}}, why);
        linear.shape = require(module + ".weight_shape", {DType::kI64, DType::kI32}, {{2}}, why);
        const TensorView shape_view = checkpoint_.view(linear.shape);
        if (shape_view.get_i64(0) != n || shape_view.get_i64(1) != k) {
          throw LoadError(checkpoint_.shard_name(linear.shape) + ": tensor '" + module +
                          ".weight_shape' holds [" + std::to_string(shape_view.get_i64(0)) + ", " +
                          std::to_string(shape_view.get_i64(1)) + "], expected [" +
                          std::to_string(n) + ", " + std::to_string(k) + "]");
        }
        if (!scheme.symmetric) {
          linear.zero_point = require(module + ".weight_zero_point", {DType::kI32},
                                      {{cdiv(n, 32 / scheme.bits), num_groups}}, why);
        }
        if (scheme.has_g_idx) {
          linear.g_idx = require(module + ".weight_g_idx", {DType::kI32}, {{k}}, why);
          check_g_idx(linear.g_idx, num_groups);
        }
        break;
      }
      case WeightFormat::kInt8:
        linear.weight = require(weight, {DType::kI8}, {{n, k}}, why);
        linear.scale = require(scale, kFloatDTypes, {{n}, {n, 1}}, why);
        if (scheme.has_symmetric_zero_point) {
          linear.zero_point =
              optional(module + ".weight_zero_point", {DType::kI8}, {{n}, {n, 1}}, why);
          if (linear.zero_point) check_all_zero(linear.zero_point);
        }
        break;
    }
    return linear;
  }

  void check_g_idx(TensorRef ref, int64_t num_groups) {
    const TensorView view = checkpoint_.view(ref);
    const int64_t count = ref.info->num_elements();
    for (int64_t i = 0; i < count; ++i) {
      const int64_t group = view.get_i64(i);
      if (group < 0 || group >= num_groups) {
        throw LoadError(checkpoint_.shard_name(ref) + ": tensor '" + ref.info->name +
                        "': element " + std::to_string(i) + " is group " + std::to_string(group) +
                        ", outside [0, " + std::to_string(num_groups) + ")");
      }
    }
  }

  void check_all_zero(TensorRef ref) {
    const TensorView view = checkpoint_.view(ref);
    for (int64_t i = 0; i < ref.info->num_elements(); ++i) {
      if (view.get_i64(i) != 0) {
        throw LoadError(checkpoint_.shard_name(ref) + ": tensor '" + ref.info->name +
                        "': element " + std::to_string(i) + " is " +
                        std::to_string(view.get_i64(i)) +
                        "; a symmetric scheme needs zero points of 0");
      }
    }
  }

  LinearWeights unquantized_linear(const std::string& module, int64_t out_features,
                                   int64_t in_features, std::string_view role) {
    const LinearScheme scheme = quant_.resolve(module);
    if (scheme.quantized()) {
      throw LoadError(checkpoint_.folder().string() + ": module " + module + " (" +
                      std::string(role) + ") is made " + scheme.label() + " by " + scheme.origin +
                      "; mmd keeps it unquantized, as every published MiniMax-M2 checkpoint does");
    }
    return linear(module, out_features, in_features);
  }

  const std::unordered_set<const TensorInfo*>& used() const { return used_; }
  void mark_used(TensorRef ref) { used_.insert(ref.info); }

 private:
  const Checkpoint& checkpoint_;
  const QuantConfig& quant_;
  std::unordered_set<const TensorInfo*> used_;
};

bool is_mtp_tensor(const std::string& name, int64_t num_layers) {
  if (name.find("mtp") != std::string::npos) return true;
  constexpr std::string_view kLayers = "model.layers.";
  if (!name.starts_with(kLayers)) return false;
  const size_t end = name.find('.', kLayers.size());
  try {
    return std::stoll(name.substr(kLayers.size(), end - kLayers.size())) >= num_layers;
  } catch (const std::exception&) {
    return false;
  }
}

// What a tensor's values may be.
enum class ValueRule { kFinite, kScale };

// Sign, exponent and magnitude masks of a float format stored as unsigned `Bits`.
template <typename Bits>
struct FloatBits {
  Bits sign, exponent, magnitude;
};

template <typename Bits>
Bits load_bits(const std::byte* data, int64_t index) {
  Bits bits;
  std::memcpy(&bits, data + index * static_cast<int64_t>(sizeof(Bits)), sizeof(Bits));
  return bits;
}

// One pass over `count` elements: whether any is non-finite (or negative, for scales) and
// whether any is non-zero; branch-free so that it vectorizes. The index is found afterwards,
// only when something is wrong.
template <typename Bits>
void scan_float_bits(const std::byte* data, int64_t count, FloatBits<Bits> masks, bool scale,
                     bool* bad, bool* nonzero) {
  Bits bad_bits = 0, any = 0;
  const Bits sign_rule = scale ? masks.sign : 0;
  for (int64_t i = 0; i < count; ++i) {
    const Bits b = load_bits<Bits>(data, i);
    const Bits mag = b & masks.magnitude;
    bad_bits |= static_cast<Bits>((b & masks.exponent) == masks.exponent);
    bad_bits |= static_cast<Bits>(((b & sign_rule) != 0) & (mag != 0));
    any |= mag;
  }
  *bad = bad_bits != 0;
  *nonzero = any != 0;
}

void check_tensor_values(const Checkpoint& checkpoint, TensorRef ref, ValueRule rule,
                         const std::string& what) {
  if (!ref) return;
  const TensorView view = checkpoint.view(ref);
  const int64_t count = ref.info->num_elements();
  const bool scale = rule == ValueRule::kScale;
  bool bad = true, nonzero = false;
  switch (view.dtype()) {
    case DType::kBF16:
      scan_float_bits<uint16_t>(view.data, count, {0x8000, 0x7F80, 0x7FFF}, scale, &bad, &nonzero);
      break;
    case DType::kF16:
      scan_float_bits<uint16_t>(view.data, count, {0x8000, 0x7C00, 0x7FFF}, scale, &bad, &nonzero);
      break;
    case DType::kF32:
      scan_float_bits<uint32_t>(view.data, count, {0x80000000u, 0x7F800000u, 0x7FFFFFFFu}, scale,
                                &bad, &nonzero);
      break;
    default:  // other dtypes: the slow loop below decides
      break;
  }
  const std::string where =
      checkpoint.shard_name(ref) + ": tensor '" + ref.info->name + "' (" + what + ")";
  if (bad) {
    for (int64_t i = 0; i < count; ++i) {
      const float v = view.get_f32(i);
      if (std::isnan(v)) throw LoadError(where + ": element " + std::to_string(i) + " is NaN");
      if (std::isinf(v)) {
        throw LoadError(where + ": element " + std::to_string(i) + " is " +
                        (v > 0 ? "+Inf" : "-Inf"));
      }
      if (scale && v < 0) {
        throw LoadError(where + ": element " + std::to_string(i) + " is " + std::to_string(v) +
                        "; a scale must not be negative");
      }
      if (v != 0) nonzero = true;
    }
  }
  if (scale && !nonzero && count > 0) {
    throw LoadError(where + ": all " + std::to_string(count) +
                    " elements are zero; the weights it scales would all be zero");
  }
}

void check_linear_values(const Checkpoint& checkpoint, const LinearWeights& linear) {
  if (!linear.scheme.quantized() || !linear.scale) return;
  check_tensor_values(checkpoint, linear.scale, ValueRule::kScale,
                      "weight scale of " + linear.name);
}

}  // namespace

void check_weight_values(const Checkpoint& checkpoint, const ModelWeights& weights) {
  check_tensor_values(checkpoint, weights.final_norm, ValueRule::kFinite, "final norm");
  check_linear_values(checkpoint, weights.lm_head);
  for (const LayerWeights& layer : weights.layers) {
    check_tensor_values(checkpoint, layer.input_norm, ValueRule::kFinite, "norm weight");
    check_tensor_values(checkpoint, layer.post_attn_norm, ValueRule::kFinite, "norm weight");
    check_tensor_values(checkpoint, layer.q_norm, ValueRule::kFinite, "norm weight");
    check_tensor_values(checkpoint, layer.k_norm, ValueRule::kFinite, "norm weight");
    check_tensor_values(checkpoint, layer.router_bias, ValueRule::kFinite, "routing bias");
    check_tensor_values(checkpoint, layer.k_scale, ValueRule::kScale, "KV cache scale");
    check_tensor_values(checkpoint, layer.v_scale, ValueRule::kScale, "KV cache scale");
    for (const LinearWeights* linear :
         {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.router}) {
      check_linear_values(checkpoint, *linear);
    }
    for (const ExpertWeights& expert : layer.experts) {
      check_linear_values(checkpoint, expert.w1);
      check_linear_values(checkpoint, expert.w2);
      check_linear_values(checkpoint, expert.w3);
    }
  }
}

uint64_t LinearWeights::num_bytes() const {
  uint64_t total = 0;
  for (const TensorRef& ref : {weight, scale, zero_point, g_idx, shape}) {
    if (ref) total += ref.info->num_bytes();
  }
  return total;
}

ModelWeights bind_model_weights(const Checkpoint& checkpoint, const ModelConfig& config,
                                const QuantConfig& quant) {
  Binder binder(checkpoint, quant);
  ModelWeights model;
  const int64_t hidden = config.hidden_size;
  const int64_t vocab = config.vocab_size;
  const int64_t experts = config.num_local_experts;
  const int64_t inter = config.intermediate_size;

  model.embed = binder.require("model.embed_tokens.weight", kFloatDTypes, {{vocab, hidden}}, "");
  model.final_norm = binder.require("model.norm.weight", kFloatDTypes, {{hidden}}, "");
  if (config.tie_word_embeddings && !checkpoint.find("lm_head.weight")) {
    model.lm_head.name = "lm_head";
    model.lm_head.weight = model.embed;
    model.lm_head.out_features = vocab;
    model.lm_head.in_features = hidden;
    model.lm_head.scheme.origin = "tied to model.embed_tokens";
  } else {
    model.lm_head = binder.unquantized_linear("lm_head", vocab, hidden, "output head");
  }

  for (int64_t layer_index = 0; layer_index < config.num_hidden_layers; ++layer_index) {
    const std::string prefix = "model.layers." + std::to_string(layer_index) + ".";
    LayerWeights layer;
    layer.input_norm =
        binder.require(prefix + "input_layernorm.weight", kFloatDTypes, {{hidden}}, "");
    layer.post_attn_norm =
        binder.require(prefix + "post_attention_layernorm.weight", kFloatDTypes, {{hidden}}, "");
    layer.q_norm = binder.require(prefix + "self_attn.q_norm.weight", kFloatDTypes,
                                  {{config.q_size()}}, "q norm spans all heads");
    layer.k_norm = binder.require(prefix + "self_attn.k_norm.weight", kFloatDTypes,
                                  {{config.kv_size()}}, "k norm spans all KV heads");
    layer.q_proj = binder.linear(prefix + "self_attn.q_proj", config.q_size(), hidden);
    layer.k_proj = binder.linear(prefix + "self_attn.k_proj", config.kv_size(), hidden);
    layer.v_proj = binder.linear(prefix + "self_attn.v_proj", config.kv_size(), hidden);
    layer.o_proj = binder.linear(prefix + "self_attn.o_proj", hidden, config.q_size());
    layer.router =
        binder.unquantized_linear(prefix + "block_sparse_moe.gate", experts, hidden, "router");
    if (config.use_routing_bias) {
      layer.router_bias = binder.require(prefix + "block_sparse_moe.e_score_correction_bias",
                                         kFloatDTypes, {{experts}}, "use_routing_bias is true");
    }
    layer.experts.reserve(static_cast<size_t>(experts));
    for (int64_t e = 0; e < experts; ++e) {
      const std::string expert = prefix + "block_sparse_moe.experts." + std::to_string(e) + ".";
      ExpertWeights weights;
      weights.w1 = binder.linear(expert + "w1", inter, hidden);
      weights.w2 = binder.linear(expert + "w2", hidden, inter);
      weights.w3 = binder.linear(expert + "w3", inter, hidden);
      // One MoE layer runs its experts through one kernel: w1/w2/w3 of every expert must share
      // a scheme (vLLM checks expert 0 only; a mixed layer would be silently misread).
      const ExpertWeights& first = e == 0 ? weights : layer.experts.front();
      for (const LinearWeights* w : {&weights.w1, &weights.w2, &weights.w3}) {
        if (!w->scheme.same_as(first.w1.scheme)) {
          throw LoadError(checkpoint.folder().string() + ": module " + w->name + " is " +
                          w->scheme.label() + " (" + w->scheme.origin + ") but " + first.w1.name +
                          " is " + first.w1.scheme.label() + " (" + first.w1.scheme.origin +
                          "); the experts of one layer must share a "
                          "scheme");
        }
      }
      layer.experts.push_back(std::move(weights));
    }

    const KvCacheScheme& kv = quant.kv_cache();
    const int64_t kv_heads = config.num_key_value_heads;
    const auto scale_shapes = {std::vector<int64_t>{1}, std::vector<int64_t>{},
                               std::vector<int64_t>{kv_heads, 1, 1},
                               std::vector<int64_t>{kv_heads}};
    if (kv.fp8) {
      const std::string why = "the FP8 KV cache scheme (" + kv.origin + ") needs it";
      layer.k_scale = binder.require(prefix + kv.k_scale_suffix, kFloatDTypes, scale_shapes, why);
      layer.v_scale = binder.require(prefix + kv.v_scale_suffix, kFloatDTypes, scale_shapes, why);
    }
    // Exporters leave zero points and q scales next to KV scales; they carry nothing mmd uses.
    for (const char* extra : {"self_attn.q_scale", "self_attn.k_zero_point",
                              "self_attn.v_zero_point", "self_attn.q_zero_point"}) {
      if (TensorRef ref = checkpoint.find(prefix + extra)) binder.mark_used(ref);
    }
    model.layers.push_back(std::move(layer));
  }

  std::vector<std::string> unexpected;
  for (TensorRef ref : checkpoint.all_tensors()) {
    if (binder.used().contains(ref.info)) continue;
    if (is_mtp_tensor(ref.info->name, config.num_hidden_layers)) {
      model.mtp_tensors.push_back(ref);
      continue;
    }
    unexpected.push_back(checkpoint.shard_name(ref) + ": '" + ref.info->name + "'");
  }
  if (!unexpected.empty()) {
    std::string message = checkpoint.folder().string() + ": " + std::to_string(unexpected.size()) +
                          " unexpected tensor(s) that no module of the model uses under its "
                          "quantization_config: ";
    for (size_t i = 0; i < std::min<size_t>(unexpected.size(), 5); ++i) {
      message += (i ? ", " : "") + unexpected[i];
    }
    if (unexpected.size() > 5) message += ", ...";
    throw LoadError(message);
  }
  return model;
}

}  // namespace mm
