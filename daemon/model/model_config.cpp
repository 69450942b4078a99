#include "daemon/model/model_config.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "daemon/model/json_reader.h"
#include "daemon/model/load_error.h"

namespace mm {
namespace {

constexpr std::string_view kArchitecture = "MiniMaxM2ForCausalLM";

// Allowed ranges: far above any MiniMax-M2 size, low enough that the products the loader forms
// (q_size, weight shapes, KV bytes per token) stay inside int64 and that what the engine keeps
// as a 32-bit int (token ids, max_model_len and sums of two lengths) fits one.
constexpr int64_t kMaxWidth = int64_t{1} << 20;  // hidden_size, intermediate_size
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxHeadDim = 4096;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxExperts = 65536;
constexpr int64_t kMaxTokenId = INT32_MAX;
constexpr int64_t kMaxPositions = int64_t{1} << 30;
constexpr double kMaxFloat = std::numeric_limits<float>::max();  // sampling values become floats

int64_t positive(const JsonObjectReader& config, std::string_view key, int64_t max) {
  return config.integer_in(key, 1, max);
}

// Finite and strictly above zero, at most `max`.
std::optional<double> optional_positive_number(const JsonObjectReader& config, std::string_view key,
                                               double max) {
  auto value = config.optional_number_in(key, 0, max);
  if (value && !(*value > 0)) config.fail(key, "must be positive, found 0");
  return value;
}

void require(bool condition, const JsonObjectReader& config, std::string_view key,
             const std::string& problem) {
  if (!condition) config.fail(key, problem);
}

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& file) {
  simdjson::dom::parser parser;
  JsonObjectReader config(parse_json_document(parser, text, file), file, "");
  ModelConfig out;

  auto architectures = config.string_list("architectures");
  if (architectures.empty()) config.fail("architectures", "missing");
  if (std::find(architectures.begin(), architectures.end(), kArchitecture) == architectures.end()) {
    config.fail("architectures", "'" + architectures.front() +
                                     "' is not supported: mmd serves MiniMaxM2ForCausalLM");
  }
  out.architecture = std::string(kArchitecture);
  out.model_type = config.optional_string("model_type").value_or("minimax_m2");

  out.hidden_size = positive(config, "hidden_size", kMaxWidth);
  out.num_hidden_layers = positive(config, "num_hidden_layers", kMaxLayers);
  out.num_attention_heads = positive(config, "num_attention_heads", kMaxHeads);
  out.num_key_value_heads = positive(config, "num_key_value_heads", out.num_attention_heads);
  out.head_dim = config.optional_integer_in("head_dim", 1, kMaxHeadDim)
                     .value_or(out.hidden_size / out.num_attention_heads);
  require(out.head_dim > 0 && out.head_dim <= kMaxHeadDim, config, "head_dim",
          "must be in [1, " + std::to_string(kMaxHeadDim) + "], found " +
              std::to_string(out.head_dim) + " (hidden_size / num_attention_heads)");
  require(out.num_attention_heads % out.num_key_value_heads == 0, config, "num_key_value_heads",
          "must divide num_attention_heads (" + std::to_string(out.num_attention_heads) + ")");

  // rotary_dim is what MiniMax ships; transformers v5 spells it as a partial_rotary_factor,
  // top level or inside rope_parameters, together with rope_theta.
  auto rope_parameters = config.optional_object("rope_parameters");
  std::optional<double> partial_factor = config.optional_number_in("partial_rotary_factor", 0, 1);
  std::optional<double> rope_theta = optional_positive_number(config, "rope_theta", 1e30);
  if (rope_parameters) {
    if (!partial_factor) {
      partial_factor = rope_parameters->optional_number_in("partial_rotary_factor", 0, 1);
    }
    if (!rope_theta) rope_theta = optional_positive_number(*rope_parameters, "rope_theta", 1e30);
    auto rope_type = rope_parameters->optional_string("rope_type");
    if (rope_type && *rope_type != "default") {
      rope_parameters->fail("rope_type", "'" + *rope_type + "' is not supported (only default)");
    }
  }
  if (auto rope_scaling = config.optional_object("rope_scaling")) {
    auto type = rope_scaling->optional_string("rope_type")
                    .value_or(rope_scaling->optional_string("type").value_or("default"));
    if (type != "default") rope_scaling->fail("rope_type", "'" + type + "' is not supported");
  }
  if (auto rotary_dim = config.optional_integer_in("rotary_dim", 1, out.head_dim)) {
    out.rotary_dim = *rotary_dim;
  } else if (partial_factor) {
    out.rotary_dim = static_cast<int64_t>(*partial_factor * static_cast<double>(out.head_dim));
  } else {
    out.rotary_dim = out.head_dim;
  }
  require(out.rotary_dim > 0 && out.rotary_dim <= out.head_dim && out.rotary_dim % 2 == 0, config,
          "rotary_dim",
          "must be even and within head_dim (" + std::to_string(out.head_dim) + "), found " +
              std::to_string(out.rotary_dim));
  if (!rope_theta) config.fail("rope_theta", "missing");
  out.rope_theta = *rope_theta;
  require(out.rope_theta > 0, config, "rope_theta", "must be positive");
  out.rms_norm_eps = optional_positive_number(config, "rms_norm_eps", 1).value_or(1e-6);

  out.intermediate_size = positive(config, "intermediate_size", kMaxWidth);
  out.num_local_experts = positive(config, "num_local_experts", kMaxExperts);
  out.num_experts_per_tok = positive(config, "num_experts_per_tok", out.num_local_experts);
  out.use_routing_bias = config.optional_boolean("use_routing_bias").value_or(true);
  out.vocab_size = positive(config, "vocab_size", kMaxTokenId);
  out.max_position_embeddings = positive(config, "max_position_embeddings", kMaxPositions);
  out.tie_word_embeddings = config.optional_boolean("tie_word_embeddings").value_or(false);
  out.use_mtp = config.optional_boolean("use_mtp").value_or(false);
  out.num_mtp_modules = config.optional_integer_in("num_mtp_modules", 0, kMaxLayers).value_or(0);
  out.torch_dtype = config.optional_string("torch_dtype")
                        .value_or(config.optional_string("dtype").value_or("bfloat16"));
  out.bos_token_id = config.optional_integer_in("bos_token_id", 0, out.vocab_size - 1);
  out.eos_token_id = config.optional_integer_in("eos_token_id", 0, out.vocab_size - 1);

  // Variants of the MiniMax family that this engine does not implement are refused by name.
  if (auto act = config.optional_string("hidden_act"); act && *act != "silu") {
    config.fail("hidden_act", "'" + *act + "' is not supported (MiniMax-M2 uses silu)");
  }
  if (auto scoring = config.optional_string("scoring_func"); scoring && *scoring != "sigmoid") {
    config.fail("scoring_func", "'" + *scoring + "' is not supported (MiniMax-M2 uses sigmoid)");
  }
  if (config.optional_boolean("use_qk_norm").value_or(true) == false) {
    config.fail("use_qk_norm", "false is not supported (MiniMax-M2 normalises q and k)");
  }
  if (auto norm = config.optional_string("qk_norm_type"); norm && *norm != "per_layer") {
    config.fail("qk_norm_type", "'" + *norm + "' is not supported (only per_layer)");
  }
  if (auto shared = config.optional_integer("shared_intermediate_size"); shared && *shared != 0) {
    config.fail("shared_intermediate_size", "shared experts are not supported");
  }
  auto attn_types = config.integer_list("attn_type_list");
  for (size_t layer = 0; layer < attn_types.size(); ++layer) {
    if (attn_types[layer] != 1) {
      config.fail("attn_type_list", "layer " + std::to_string(layer) +
                                        " uses linear attention (type " +
                                        std::to_string(attn_types[layer]) +
                                        "); mmd implements full attention (type 1) only");
    }
  }
  if (auto window = config.optional_integer("sliding_window"); window && *window > 0) {
    config.fail("sliding_window", "sliding-window attention is not supported");
  }
  return out;
}

GenerationConfig parse_generation_config(const std::string& text, const std::string& file) {
  simdjson::dom::parser parser;
  JsonObjectReader config(parse_json_document(parser, text, file), file, "");
  GenerationConfig out;
  out.eos_token_ids = config.integer_list("eos_token_id");
  for (size_t i = 0; i < out.eos_token_ids.size(); ++i) {
    const int64_t id = out.eos_token_ids[i];
    if (id < 0 || id > kMaxTokenId) {
      config.fail("eos_token_id", "item " + std::to_string(i) + " must be in [0, " +
                                      std::to_string(kMaxTokenId) + "], found " +
                                      std::to_string(id));
    }
  }
  out.bos_token_id = config.optional_integer_in("bos_token_id", 0, kMaxTokenId);
  // transformers writes -1 for "no padding token" in some exports.
  out.pad_token_id = config.optional_integer_in("pad_token_id", -1, kMaxTokenId);
  out.do_sample = config.optional_boolean("do_sample");
  out.temperature = config.optional_number_in("temperature", 0, kMaxFloat);
  out.top_p = optional_positive_number(config, "top_p", 1);
  out.top_k = config.optional_integer_in("top_k", -1, kMaxTokenId);
  out.min_p = config.optional_number_in("min_p", 0, 1);
  out.repetition_penalty = optional_positive_number(config, "repetition_penalty", kMaxFloat);
  out.max_new_tokens = config.optional_integer_in("max_new_tokens", 1, kMaxPositions);
  return out;
}

}  // namespace mm
