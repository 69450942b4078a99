#include <gtest/gtest.h>

#include <string>

#include "daemon/model/load_error.h"
#include "daemon/model/model_config.h"

namespace mm {
namespace {

// The official MiniMax-M2 config.json values (minimax-m2.md §1.1), quantization block omitted.
std::string official_config(const std::string& extra = "") {
  return R"({
  "architectures": ["MiniMaxM2ForCausalLM"],
  "attn_type_list": [1, 1, 1],
  "head_dim": 128, "hidden_act": "silu", "hidden_size": 3072, "intermediate_size": 1536,
  "max_position_embeddings": 196608, "model_type": "minimax_m2", "mtp_transformer_layers": 1,
  "num_attention_heads": 48, "num_experts_per_tok": 8, "num_hidden_layers": 62,
  "num_key_value_heads": 8, "num_local_experts": 256, "num_mtp_modules": 3,
  "qk_norm_type": "per_layer", "rms_norm_eps": 1e-06, "rope_theta": 5000000, "rotary_dim": 64,
  "scoring_func": "sigmoid", "shared_intermediate_size": 0, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "use_cache": true, "use_mtp": true, "use_qk_norm": true,
  "use_routing_bias": true, "vocab_size": 200064)" +
         extra + "}";
}

std::string config_error(const std::string& text) {
  try {
    parse_model_config(text, "config.json");
  } catch (const LoadError& error) {
    return error.what();
  }
  return "";
}

TEST(ModelConfig, ParsesTheOfficialConfig) {
  const ModelConfig c = parse_model_config(official_config(), "config.json");
  EXPECT_EQ(c.architecture, "MiniMaxM2ForCausalLM");
  EXPECT_EQ(c.hidden_size, 3072);
  EXPECT_EQ(c.num_hidden_layers, 62);
  EXPECT_EQ(c.q_size(), 6144);
  EXPECT_EQ(c.kv_size(), 1024);
  EXPECT_EQ(c.rotary_dim, 64);
  EXPECT_DOUBLE_EQ(c.rope_theta, 5e6);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.num_local_experts, 256);
  EXPECT_EQ(c.num_experts_per_tok, 8);
  EXPECT_TRUE(c.use_routing_bias);
  EXPECT_TRUE(c.use_mtp);
  EXPECT_EQ(c.vocab_size, 200064);
  EXPECT_FALSE(c.bos_token_id.has_value());
}

TEST(ModelConfig, TransformersV5RopeParameters) {
  std::string text = official_config();
  text.replace(text.find(R"("rope_theta": 5000000, "rotary_dim": 64,)"),
               std::string(R"("rope_theta": 5000000, "rotary_dim": 64,)").size(),
               R"("rope_parameters": {"rope_type": "default", "rope_theta": 5000000,
                  "partial_rotary_factor": 0.5},)");
  const ModelConfig c = parse_model_config(text, "config.json");
  EXPECT_EQ(c.rotary_dim, 64);
  EXPECT_DOUBLE_EQ(c.rope_theta, 5e6);
}

TEST(ModelConfig, RejectsOtherArchitectures) {
  std::string text = official_config();
  text.replace(text.find("MiniMaxM2ForCausalLM"), 20, "LlamaForCausalLM");
  const std::string error = config_error(text);
  EXPECT_NE(error.find("config.json: architectures"), std::string::npos) << error;
  EXPECT_NE(error.find("LlamaForCausalLM"), std::string::npos) << error;
}

TEST(ModelConfig, NamesTheBadField) {
  std::string text = official_config();
  text.replace(text.find(R"("hidden_size": 3072)"), 19, R"("hidden_size": "big")");
  EXPECT_NE(config_error(text).find("config.json: hidden_size: expected an integer"),
            std::string::npos)
      << config_error(text);
  text = official_config();
  text.replace(text.find(R"("attn_type_list": [1, 1, 1])"), 27, R"("attn_type_list": [1, 0, 1])");
  EXPECT_NE(config_error(text).find("layer 1 uses linear attention"), std::string::npos);
  text = official_config();
  text.replace(text.find(R"("scoring_func": "sigmoid")"), 25, R"("scoring_func": "softmax")");
  EXPECT_NE(config_error(text).find("scoring_func"), std::string::npos);
  text = official_config();
  text.replace(text.find(R"("rotary_dim": 64)"), 16, R"("rotary_dim": 130)");
  EXPECT_NE(config_error(text).find("rotary_dim"), std::string::npos);
  EXPECT_NE(config_error("{not json").find("malformed JSON"), std::string::npos);
  EXPECT_NE(config_error("[]").find("must be a JSON object"), std::string::npos);
}

TEST(GenerationConfig, ParsesTheM27File) {
  const GenerationConfig g = parse_generation_config(
      R"({"bos_token_id": 200019, "do_sample": true, "eos_token_id": 200020,
          "temperature": 1.0, "top_k": 40, "top_p": 0.95, "transformers_version": "4.46.1"})",
      "generation_config.json");
  EXPECT_EQ(g.eos_token_ids, (std::vector<int64_t>{200020}));
  EXPECT_EQ(g.bos_token_id, 200019);
  EXPECT_EQ(g.top_k, 40);
  EXPECT_DOUBLE_EQ(*g.top_p, 0.95);
  const GenerationConfig list =
      parse_generation_config(R"({"eos_token_id": [1, 2]})", "generation_config.json");
  EXPECT_EQ(list.eos_token_ids, (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace mm
