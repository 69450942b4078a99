#include "daemon/model/quant_config.h"

#include <gtest/gtest.h>

#include "daemon/model/load_error.h"

namespace mm {
namespace {

QuantConfig parse(const std::string& block) {
  return QuantConfig::parse(R"({"quantization_config": )" + block + "}", "config.json");
}

const char* kExpert = "model.layers.3.block_sparse_moe.experts.17.w2";
const char* kQProj = "model.layers.3.self_attn.q_proj";
const char* kRouter = "model.layers.3.block_sparse_moe.gate";

TEST(QuantConfig, NoBlockMeansUnquantized) {
  const QuantConfig q = QuantConfig::parse(R"({"hidden_size": 8})", "config.json");
  EXPECT_EQ(q.method(), QuantMethod::kNone);
  EXPECT_FALSE(q.resolve(kQProj).quantized());
  EXPECT_FALSE(q.kv_cache().fp8);
}

TEST(QuantConfig, OfficialFp8) {
  const QuantConfig q = parse(R"({"quant_method": "fp8", "activation_scheme": "dynamic",
      "fmt": "float8_e4m3fn", "weight_block_size": [128, 128],
      "modules_to_not_convert": ["gate", "e_score_correction_bias", "lm_head"]})");
  const LinearScheme expert = q.resolve(kExpert);
  EXPECT_EQ(expert.format, WeightFormat::kFp8);
  EXPECT_EQ(expert.strategy, ScaleStrategy::kBlock);
  EXPECT_EQ(expert.block_n, 128);
  EXPECT_EQ(expert.scale_suffix, "weight_scale_inv");
  EXPECT_EQ(expert.activations, ActQuant::kFp8PerTokenGroup);
  EXPECT_EQ(expert.label(), "FP8 E4M3 W8A8 block 128x128, dynamic act per-token-group 128");
  EXPECT_FALSE(q.resolve(kRouter).quantized());
  EXPECT_FALSE(q.resolve("lm_head").quantized());
  // Whole dotted components only: "gate" must not catch a hypothetical gate_proj.
  EXPECT_TRUE(q.resolve("model.layers.0.mlp.gate_proj").quantized());
}

TEST(QuantConfig, Fp8RejectsPerTensorAndStatic) {
  EXPECT_THROW(parse(R"({"quant_method": "fp8"})"), LoadError);
  EXPECT_THROW(parse(R"({"quant_method": "fp8", "weight_block_size": [128, 128],
                         "activation_scheme": "static"})"),
               LoadError);
}

constexpr const char* kHybrid = R"({
  "quant_method": "compressed-tensors", "format": "mixed-precision",
  "config_groups": {
    "group_0": {"targets": ["re:.*block_sparse_moe\\.experts\\.\\d+\\.w[123]$"],
                "format": "pack-quantized",
                "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group",
                            "group_size": 128, "dynamic": false, "actorder": null},
                "input_activations": null, "output_activations": null},
    "group_1": {"targets": ["re:.*self_attn\\.(q|k|v|o)_proj$"], "format": "float-quantized",
                "weights": {"num_bits": 8, "type": "float", "symmetric": true,
                            "strategy": "block", "block_structure": [128, 128]},
                "input_activations": {"num_bits": 8, "type": "float", "symmetric": true,
                                      "strategy": "group", "group_size": 128, "dynamic": true}}},
  "ignore": ["lm_head", "re:.*block_sparse_moe\\.gate$",
             "re:model\\.layers\\.(58|59|60|61)\\.block_sparse_moe\\.experts\\..*"],
  "kv_cache_scheme": {"num_bits": 8, "type": "float", "symmetric": true, "strategy": "tensor",
                      "dynamic": false}})";

TEST(QuantConfig, CompressedTensorsHybrid) {
  const QuantConfig q = parse(kHybrid);
  EXPECT_EQ(q.method(), QuantMethod::kCompressedTensors);
  const LinearScheme expert = q.resolve(kExpert);
  EXPECT_EQ(expert.format, WeightFormat::kIntPacked);
  EXPECT_EQ(expert.bits, 4);
  EXPECT_EQ(expert.group_size, 128);
  EXPECT_EQ(expert.origin, "config_groups.group_0");
  EXPECT_EQ(expert.label(), "INT4 W4A16 group 128");
  const LinearScheme attention = q.resolve(kQProj);
  EXPECT_EQ(attention.format, WeightFormat::kFp8);
  EXPECT_EQ(attention.scale_suffix, "weight_scale");
  EXPECT_EQ(attention.activations, ActQuant::kFp8PerTokenGroup);
  EXPECT_FALSE(q.resolve(kRouter).quantized());
  EXPECT_FALSE(q.resolve("lm_head").quantized());
  const LinearScheme late = q.resolve("model.layers.60.block_sparse_moe.experts.0.w1");
  EXPECT_FALSE(late.quantized());
  EXPECT_NE(late.origin.find("ignore"), std::string::npos);
  EXPECT_TRUE(q.kv_cache().fp8);
  EXPECT_FALSE(q.kv_cache().per_head);
  EXPECT_EQ(q.kv_cache().k_scale_suffix, "self_attn.k_scale");
}

TEST(QuantConfig, RegexIsAnchoredAtTheStartOnly) {
  // re.match semantics: ".*experts" matches from the start; a pattern without ".*" must match
  // at position 0, and without "$" also matches longer names.
  const QuantConfig q = parse(R"({"quant_method": "compressed-tensors", "config_groups": {
      "g": {"targets": ["re:block_sparse_moe", "re:model\\.layers\\.1"],
            "weights": {"num_bits": 4, "type": "int", "group_size": 32}}}})");
  EXPECT_FALSE(q.resolve(kExpert).quantized());  // not at position 0
  EXPECT_TRUE(q.resolve("model.layers.1.self_attn.q_proj").quantized());
  EXPECT_TRUE(q.resolve("model.layers.12.self_attn.q_proj").quantized());  // no "$": prefix
  EXPECT_FALSE(q.resolve(kQProj).quantized());
}

TEST(QuantConfig, TransformersNamesAndClassTargets) {
  const QuantConfig q = parse(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {"g": {"targets": ["Linear"],
            "weights": {"num_bits": 4, "type": "int", "group_size": 32, "symmetric": false,
                        "actorder": "group"}}},
      "ignore": ["lm_head", "re:.*mlp\\.gate$", "re:.*self_attn.*"]})");
  const LinearScheme expert = q.resolve(kExpert);
  EXPECT_EQ(expert.format, WeightFormat::kIntPacked);
  EXPECT_FALSE(expert.symmetric);
  EXPECT_TRUE(expert.has_g_idx);
  EXPECT_FALSE(q.resolve(kRouter).quantized());  // via the mlp.gate alias
  EXPECT_FALSE(q.resolve(kQProj).quantized());
}

TEST(QuantConfig, ExactNameBeatsRegexBeatsClass) {
  const QuantConfig q = parse(R"({"quant_method": "compressed-tensors", "config_groups": {
      "exact": {"targets": ["model.layers.3.block_sparse_moe.experts.17.w2"],
                "weights": {"num_bits": 8, "type": "int", "strategy": "channel"}},
      "regex": {"targets": ["re:.*experts.*"],
                "weights": {"num_bits": 4, "type": "int", "group_size": 32}},
      "class": {"targets": ["Linear"],
                "weights": {"num_bits": 4, "type": "int", "group_size": 128}}}})");
  EXPECT_EQ(q.resolve(kExpert).bits, 8);
  EXPECT_EQ(q.resolve("model.layers.3.block_sparse_moe.experts.16.w2").group_size, 32);
  EXPECT_EQ(q.resolve(kQProj).group_size, 128);
}

TEST(QuantConfig, UnsupportedSchemeNamesModuleAndGroup) {
  const QuantConfig q = parse(R"({"quant_method": "compressed-tensors", "config_groups": {
      "nvfp4": {"targets": ["re:.*experts.*"], "format": "nvfp4-pack-quantized",
                "weights": {"num_bits": 4, "type": "float", "group_size": 16}}}})");
  EXPECT_FALSE(q.resolve(kQProj).quantized());
  try {
    q.resolve(kExpert);
    FAIL();
  } catch (const LoadError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(kExpert), std::string::npos) << message;
    EXPECT_NE(message.find("config_groups.nvfp4"), std::string::npos) << message;
  }
}

TEST(QuantConfig, EmptySparsityAndTransformBlocksAreOrdinary) {
  // What llm-compressor writes on a plain AWQ export.
  const QuantConfig q = parse(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {"g": {"targets": ["Linear"],
                              "weights": {"num_bits": 4, "type": "int", "group_size": 32}}},
      "sparsity_config": {}, "transform_config": {}})");
  EXPECT_TRUE(q.resolve(kExpert).quantized());
  EXPECT_THROW(parse(R"({"quant_method": "compressed-tensors", "config_groups": {},
                         "sparsity_config": {"format": "sparse-24-bitmask", "targets": ["Linear"]}})"),
               LoadError);
  EXPECT_THROW(parse(R"({"quant_method": "compressed-tensors", "config_groups": {},
                         "transform_config": {"config_groups": {"u": {"type": "hadamard"}}}})"),
               LoadError);
}

TEST(QuantConfig, BadRegexIsALoadError) {
  EXPECT_THROW(parse(R"({"quant_method": "compressed-tensors", "config_groups": {
      "g": {"targets": ["re:(unclosed"], "weights": {"num_bits": 4, "type": "int"}}}})"),
               LoadError);
}

TEST(QuantConfig, QuarkPtpcInt8) {
  const QuantConfig q = parse(R"({"quant_method": "quark",
      "global_quant_config": {
        "weight": {"dtype": "int8", "qscheme": "per_channel", "ch_axis": 0, "symmetric": true,
                   "is_dynamic": false},
        "input_tensors": {"dtype": "int8", "qscheme": "per_channel", "ch_axis": 1,
                          "symmetric": true, "is_dynamic": true},
        "output_tensors": null, "bias": null},
      "layer_quant_config": {}, "layer_type_quant_config": {}, "kv_cache_quant_config": {},
      "exclude": ["lm_head", "re:.*block_sparse_moe\\.gate$"],
      "export": {"kv_cache_group": [], "pack_method": "reorder"}})");
  EXPECT_EQ(q.method(), QuantMethod::kQuark);
  const LinearScheme expert = q.resolve(kExpert);
  EXPECT_EQ(expert.format, WeightFormat::kInt8);
  EXPECT_EQ(expert.activations, ActQuant::kInt8PerToken);
  EXPECT_TRUE(expert.has_symmetric_zero_point);
  EXPECT_EQ(expert.label(), "INT8 W8A8 per-channel, dynamic act per-token");
  EXPECT_FALSE(q.resolve(kRouter).quantized());
  EXPECT_FALSE(q.resolve("lm_head").quantized());
  EXPECT_FALSE(q.kv_cache().fp8);
}

TEST(QuantConfig, UnknownMethodNamed) {
  try {
    parse(R"({"quant_method": "gptq"})");
    FAIL();
  } catch (const LoadError& error) {
    EXPECT_NE(std::string(error.what()).find("'gptq'"), std::string::npos);
  }
}

}  // namespace
}  // namespace mm
