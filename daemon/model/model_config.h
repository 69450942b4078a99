// config.json and generation_config.json of a MiniMax-M2 checkpoint (minimax-m2.md §1, §7).
// Plain values, immutable after parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mm {

struct ModelConfig {
  std::string architecture;  // "MiniMaxM2ForCausalLM"
  std::string model_type;    // "minimax_m2"
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t rotary_dim = 0;  // leading dims of each head that RoPE rotates (NeoX halves)
  double rope_theta = 0;
  double rms_norm_eps = 0;
  int64_t intermediate_size = 0;  // per expert
  int64_t num_local_experts = 0;
  int64_t num_experts_per_tok = 0;
  bool use_routing_bias = false;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool use_mtp = false;
  int64_t num_mtp_modules = 0;
  std::string torch_dtype;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;

  int64_t q_size() const { return num_attention_heads * head_dim; }
  int64_t kv_size() const { return num_key_value_heads * head_dim; }
};

// Parses config.json text; `file` names it in errors. Rejects other architectures and
// MiniMax variants mmd does not implement (linear attention layers, shared experts, ...).
ModelConfig parse_model_config(const std::string& text, const std::string& file);

struct GenerationConfig {
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<int64_t> max_new_tokens;
};

GenerationConfig parse_generation_config(const std::string& text, const std::string& file);

}  // namespace mm
