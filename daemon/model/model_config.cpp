#include "daemon/model/model_config.h"

#include <algorithm>

#include "daemon/model/json_reader.h"
#include "daemon/model/load_error.h"

namespace mm {
namespace {

constexpr std::string_view kArchitecture = "MiniMaxM2ForCausalLM";

int64_t positive(const JsonObjectReader& config, std::string_view key) {
  const int64_t value = config.integer(key);
  if (value <= 0) config.fail(key, "must be positive, found " + std::to_string(value));
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

  out.hidden_size = positive(config, "hidden_size");
  out.num_hidden_layers = positive(config, "num_hidden_layers");
  out.num_attention_heads = positive(config, "num_attention_heads");
  out.num_key_value_heads = positive(config, "num_key_value_heads");
  out.head_dim =
      config.optional_integer("head_dim").value_or(out.hidden_size / out.num_attention_heads);
  require(out.head_dim > 0, config, "head_dim", "must be positive");
  require(out.num_attention_heads % out.num_key_value_heads == 0, config, "num_key_value_heads",
          "must divide num_attention_heads (" + std::to_string(out.num_attention_heads) + ")");

  // rotary_dim is what MiniMax ships; transformers v5 spells it as a partial_rotary_factor,
  // top level or inside rope_parameters, together with rope_theta.
  auto rope_parameters = config.optional_object("rope_parameters");
  std::optional<double> partial_factor = config.optional_number("partial_rotary_factor");
  std::optional<double> rope_theta = config.optional_number("rope_theta");
  if (rope_parameters) {
    if (!partial_factor) partial_factor = rope_parameters->optional_number("partial_rotary_factor");
    if (!rope_theta) rope_theta = rope_parameters->optional_number("rope_theta");
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
  if (auto rotary_dim = config.optional_integer("rotary_dim")) {
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
  out.rms_norm_eps = config.optional_number("rms_norm_eps").value_or(1e-6);

  out.intermediate_size = positive(config, "intermediate_size");
  out.num_local_experts = positive(config, "num_local_experts");
  out.num_experts_per_tok = positive(config, "num_experts_per_tok");
  require(out.num_experts_per_tok <= out.num_local_experts, config, "num_experts_per_tok",
          "exceeds num_local_experts (" + std::to_string(out.num_local_experts) + ")");
  out.use_routing_bias = config.optional_boolean("use_routing_bias").value_or(true);
  out.vocab_size = positive(config, "vocab_size");
  out.max_position_embeddings = positive(config, "max_position_embeddings");
  out.tie_word_embeddings = config.optional_boolean("tie_word_embeddings").value_or(false);
  out.use_mtp = config.optional_boolean("use_mtp").value_or(false);
  out.num_mtp_modules = config.optional_integer("num_mtp_modules").value_or(0);
  out.torch_dtype = config.optional_string("torch_dtype")
                        .value_or(config.optional_string("dtype").value_or("bfloat16"));
  out.bos_token_id = config.optional_integer("bos_token_id");
  out.eos_token_id = config.optional_integer("eos_token_id");

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
  out.bos_token_id = config.optional_integer("bos_token_id");
  out.pad_token_id = config.optional_integer("pad_token_id");
  out.do_sample = config.optional_boolean("do_sample");
  out.temperature = config.optional_number("temperature");
  out.top_p = config.optional_number("top_p");
  out.top_k = config.optional_integer("top_k");
  out.min_p = config.optional_number("min_p");
  out.repetition_penalty = config.optional_number("repetition_penalty");
  out.max_new_tokens = config.optional_integer("max_new_tokens");
  return out;
}

}  // namespace mm
