// Which tensor-parallel sizes split MiniMax-M2 (full-size shapes) in each published format,
// and the message when one does not. The expectations are the known deployment facts: the
// official FP8 release and AWQ group-128 builds stop at tp 4 (1536 / 8 = 192 intermediate
// rows or columns per rank break their 128-wide blocks / groups), group 32 goes further.
#include "daemon/model/tensor_parallel_plan.h"

#include <gtest/gtest.h>

#include <string>

namespace mm {
namespace {

ModelConfig minimax_m2() {
  ModelConfig c;
  c.hidden_size = 3072;
  c.num_hidden_layers = 62;
  c.num_attention_heads = 48;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.rotary_dim = 64;
  c.intermediate_size = 1536;
  c.num_local_experts = 256;
  c.num_experts_per_tok = 8;
  c.vocab_size = 200064;
  return c;
}

QuantConfig parse(const std::string& quantization_config) {
  return QuantConfig::parse(R"({"quantization_config": )" + quantization_config + "}",
                            "config.json");
}

const char* kOfficialFp8 =
    R"({"quant_method": "fp8", "fmt": "float8_e4m3fn", "activation_scheme": "dynamic",
        "weight_block_size": [128, 128], "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"]})";

std::string awq(int group) {
  return R"({"quant_method": "compressed-tensors", "format": "mixed-precision", "config_groups": {
    "group_0": {"targets": ["re:.*block_sparse_moe\\.experts\\.\\d+\\.(w1|w2|w3)$"], "format": "pack-quantized",
                "weights": {"num_bits": 4, "type": "int", "symmetric": true, "group_size": )" +
         std::to_string(group) + R"(, "strategy": "group"}},
    "group_1": {"targets": ["re:.*self_attn\\.(q|k|v|o)_proj$"], "format": "float-quantized",
                "weights": {"num_bits": 8, "type": "float", "symmetric": true, "strategy": "block",
                            "block_structure": [128, 128]},
                "input_activations": {"num_bits": 8, "type": "float", "symmetric": true, "strategy": "group",
                                      "group_size": 128, "dynamic": true}}},
    "ignore": ["lm_head", "re:.*block_sparse_moe\\.gate$"]})";
}

TEST(TensorParallelPlan, WorkableSizesPerFormat) {
  const ModelConfig m2 = minimax_m2();
  EXPECT_EQ(workable_tensor_parallel_sizes(m2, parse(kOfficialFp8)), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(workable_tensor_parallel_sizes(m2, parse(awq(128))), (std::vector<int>{1, 2, 4}));
  // 16 ranks: 3 heads each, KV heads replicated twice, 96 intermediate columns = 3 groups.
  EXPECT_EQ(workable_tensor_parallel_sizes(m2, parse(awq(32))), (std::vector<int>{1, 2, 4, 8, 16}));
  // Unquantized, the 8 KV heads decide: they split over 2, 4, 8 or replicate over 16 (not 3,
  // 6 or 12, which the 48 query heads alone would allow).
  EXPECT_EQ(workable_tensor_parallel_sizes(m2, QuantConfig::parse("{}", "config.json")),
            (std::vector<int>{1, 2, 4, 8, 16}));
  std::string why;
  EXPECT_FALSE(plan_tensor_parallel(m2, QuantConfig::parse("{}", "config.json"), 6, &why));
  EXPECT_EQ(why, "tensor parallel size 6: 8 KV heads do not split over 6 ranks");
}

TEST(TensorParallelPlan, ShardSizesAndKvReplication) {
  const auto plan = plan_tensor_parallel(minimax_m2(), parse(awq(32)), 8);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->q_heads_per_rank, 6);
  EXPECT_EQ(plan->kv_heads_per_rank, 1);
  EXPECT_EQ(plan->kv_head_replicas, 1);
  EXPECT_EQ(plan->intermediate_per_rank, 192);
  EXPECT_EQ(plan->vocab_per_rank, 25008);
  const auto wide = plan_tensor_parallel(minimax_m2(), QuantConfig::parse("{}", "config.json"), 16);
  ASSERT_TRUE(wide);
  EXPECT_EQ(wide->kv_heads_per_rank, 1);
  EXPECT_EQ(wide->kv_head_replicas, 2);  // 8 KV heads over 16 ranks
  EXPECT_EQ(wide->q_heads_per_rank, 3);
}

TEST(TensorParallelPlan, RefusalNamesTheLayerSchemeAndSizes) {
  std::string why;
  EXPECT_FALSE(plan_tensor_parallel(minimax_m2(), parse(awq(128)), 8, &why));
  EXPECT_EQ(why,
            "tensor parallel size 8: model.layers.0.block_sparse_moe.experts.0.w2 (INT4 W4A16 "
            "group 128) gives "
            "each rank 192 input columns, not a multiple of 128 (its quantization group, block or "
            "packing)");
  EXPECT_FALSE(plan_tensor_parallel(minimax_m2(), parse(kOfficialFp8), 8, &why));
  EXPECT_NE(why.find("model.layers.0.block_sparse_moe.experts.0.w1"), std::string::npos) << why;
  EXPECT_NE(why.find("192 output rows, not a multiple of its 128-row scale blocks"),
            std::string::npos)
      << why;
  EXPECT_FALSE(plan_tensor_parallel(minimax_m2(), parse(awq(32)), 5, &why));
  EXPECT_EQ(why, "tensor parallel size 5: 48 attention heads do not split over 5 ranks");
  EXPECT_FALSE(plan_tensor_parallel(minimax_m2(), parse(awq(32)), 0, &why));
}

}  // namespace
}  // namespace mm
