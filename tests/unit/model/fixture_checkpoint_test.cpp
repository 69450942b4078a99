// Every fixture checkpoint (tools/reference/make_fixtures.py) loads, and each Linear gets the
// precision scheme its format promises.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/model/checkpoint.h"
#include "daemon/model/inspect_report.h"
#include "daemon/model/load_error.h"
#include "daemon/model/model_weights.h"
#include "tests/unit/model/safetensors_writer.h"

namespace mm {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const std::string& name) {
  return fs::path(MMD_FIXTURE_DIR) / name;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Loaded {
  Checkpoint checkpoint;
  ModelConfig config;
  QuantConfig quant;
  ModelWeights weights;

  explicit Loaded(const fs::path& folder)
      : checkpoint(folder),
        config(parse_model_config(read_file(folder / "config.json"), "config.json")),
        quant(QuantConfig::parse(read_file(folder / "config.json"), "config.json")),
        weights(bind_model_weights(checkpoint, config, quant)) {}
};

// The scheme every expert / attention projection of `layer` has.
const LinearScheme& expert_scheme(const Loaded& m, int layer) {
  return m.weights.layers[layer].experts.front().w1.scheme;
}
const LinearScheme& attention_scheme(const Loaded& m, int layer) {
  return m.weights.layers[layer].q_proj.scheme;
}

void expect_dense_head(const Loaded& m) {
  EXPECT_FALSE(m.weights.lm_head.scheme.quantized());
  for (const LayerWeights& layer : m.weights.layers) {
    EXPECT_FALSE(layer.router.scheme.quantized());
    EXPECT_EQ(layer.router.weight.info->dtype, DType::kF32);
    ASSERT_TRUE(layer.router_bias);
  }
}

TEST(FixtureCheckpoints, Bf16) {
  Loaded m(fixture("tiny-bf16"));
  EXPECT_EQ(m.quant.method(), QuantMethod::kNone);
  EXPECT_EQ(m.config.hidden_size, 128);
  EXPECT_EQ(m.config.rotary_dim, 32);
  ASSERT_EQ(m.weights.layers.size(), 2u);
  EXPECT_EQ(m.weights.layers[0].experts.size(), 8u);
  EXPECT_FALSE(expert_scheme(m, 1).quantized());
  EXPECT_EQ(m.weights.layers[1].experts[7].w2.weight.info->dtype, DType::kBF16);
  EXPECT_FALSE(m.quant.kv_cache().fp8);
  expect_dense_head(m);
}

TEST(FixtureCheckpoints, OfficialFp8IsShardedAndBlockScaled) {
  Loaded m(fixture("tiny-fp8"));
  EXPECT_EQ(m.quant.method(), QuantMethod::kFp8);
  EXPECT_EQ(m.checkpoint.shards().size(), 2u);
  for (int layer = 0; layer < 2; ++layer) {
    for (const LinearScheme* s : {&expert_scheme(m, layer), &attention_scheme(m, layer)}) {
      EXPECT_EQ(s->format, WeightFormat::kFp8);
      EXPECT_EQ(s->strategy, ScaleStrategy::kBlock);
      EXPECT_EQ(s->block_n, 128);
      EXPECT_EQ(s->scale_suffix, "weight_scale_inv");
    }
  }
  // q_proj [256, 128] has a 2 x 1 grid of 128 x 128 blocks.
  EXPECT_EQ(m.weights.layers[0].q_proj.scale.info->shape, (std::vector<int64_t>{2, 1}));
  expect_dense_head(m);
}

TEST(FixtureCheckpoints, Fp8AttentionInt4Group32Experts) {
  Loaded m(fixture("tiny-fp8-w4a16-g32"));
  EXPECT_EQ(m.quant.method(), QuantMethod::kCompressedTensors);
  const LinearScheme& experts = expert_scheme(m, 0);
  EXPECT_EQ(experts.format, WeightFormat::kIntPacked);
  EXPECT_EQ(experts.bits, 4);
  EXPECT_EQ(experts.group_size, 32);
  EXPECT_TRUE(experts.symmetric);
  EXPECT_EQ(attention_scheme(m, 0).format, WeightFormat::kFp8);
  EXPECT_EQ(attention_scheme(m, 0).strategy, ScaleStrategy::kBlock);
  EXPECT_EQ(attention_scheme(m, 0).scale_suffix, "weight_scale");
  // w2 is [128, 128]: 16 int32 words per row, 4 groups of 32.
  const LinearWeights& w2 = m.weights.layers[0].experts[3].w2;
  EXPECT_EQ(w2.weight.info->shape, (std::vector<int64_t>{128, 16}));
  EXPECT_EQ(w2.scale.info->shape, (std::vector<int64_t>{128, 4}));
  EXPECT_FALSE(m.quant.kv_cache().fp8);
  expect_dense_head(m);
}

TEST(FixtureCheckpoints, Group128WithFp8KvScales) {
  Loaded m(fixture("tiny-fp8-w4a16-g128-kvfp8"));
  EXPECT_EQ(expert_scheme(m, 1).group_size, 128);
  EXPECT_TRUE(m.quant.kv_cache().fp8);
  for (const LayerWeights& layer : m.weights.layers) {
    ASSERT_TRUE(layer.k_scale);
    ASSERT_TRUE(layer.v_scale);
    const float k_scale = m.checkpoint.view(layer.k_scale).get_f32(0);
    EXPECT_GT(k_scale, 0.0f);
    EXPECT_NE(k_scale, 1.0f);  // calibrated, not the placeholder
  }
}

TEST(FixtureCheckpoints, LastLayerExpertsStayBf16) {
  Loaded m(fixture("tiny-bf16-w4a16-g32-lastbf16"));
  EXPECT_FALSE(attention_scheme(m, 0).quantized());
  EXPECT_EQ(expert_scheme(m, 0).format, WeightFormat::kIntPacked);
  EXPECT_FALSE(expert_scheme(m, 1).quantized());
  EXPECT_NE(expert_scheme(m, 1).origin.find("ignore"), std::string::npos);
}

TEST(FixtureCheckpoints, AsymmetricActOrder) {
  Loaded m(fixture("tiny-w4a16-g32-asym-actorder"));
  const LinearScheme& experts = expert_scheme(m, 0);
  EXPECT_FALSE(experts.symmetric);
  EXPECT_TRUE(experts.has_g_idx);
  const LinearWeights& w1 = m.weights.layers[0].experts[0].w1;
  ASSERT_TRUE(w1.zero_point);
  ASSERT_TRUE(w1.g_idx);
  EXPECT_EQ(w1.zero_point.info->shape, (std::vector<int64_t>{16, 4}));  // [128 / 8, 128 / 32]
}

TEST(FixtureCheckpoints, QuarkW8A8Int8) {
  Loaded m(fixture("tiny-w8a8-int8"));
  EXPECT_EQ(m.quant.method(), QuantMethod::kQuark);
  for (const LinearScheme* s : {&expert_scheme(m, 0), &attention_scheme(m, 1)}) {
    EXPECT_EQ(s->format, WeightFormat::kInt8);
    EXPECT_EQ(s->activations, ActQuant::kInt8PerToken);
  }
  EXPECT_EQ(m.weights.layers[0].o_proj.scale.info->shape, (std::vector<int64_t>{128}));
  expect_dense_head(m);
}

// --- a damaged copy of a good fixture fails with a message naming the problem -------------

class DamagedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = testing::temp_folder("damaged");
    fs::copy(fixture("tiny-bf16"), folder_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(folder_); }

  std::string load_error() {
    const InspectReport report = inspect_checkpoint(folder_);
    EXPECT_FALSE(report.valid);
    return report.error;
  }
  void replace_in_config(const std::string& from, const std::string& to) {
    std::string text = read_file(folder_ / "config.json");
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    testing::write_text(folder_ / "config.json", text);
  }
  fs::path folder_;
};

TEST_F(DamagedCheckpoint, WrongHiddenSizeNamesTheTensor) {
  replace_in_config("\"hidden_size\": 128", "\"hidden_size\": 256");
  const std::string error = load_error();
  EXPECT_NE(error.find("model.embed_tokens.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("shape [256, 128], expected [256, 256]"), std::string::npos) << error;
}

TEST_F(DamagedCheckpoint, TruncatedShardNamesTheFile) {
  const fs::path file = folder_ / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) - 100);
  const std::string error = load_error();
  EXPECT_NE(error.find("model.safetensors"), std::string::npos) << error;
  EXPECT_NE(error.find("past the data section"), std::string::npos) << error;
}

TEST_F(DamagedCheckpoint, MoreLayersThanTensors) {
  replace_in_config("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  const std::string error = load_error();
  EXPECT_NE(error.find("model.layers.2.input_layernorm.weight' is missing"), std::string::npos)
      << error;
}

TEST_F(DamagedCheckpoint, QuantizationConfigWithoutItsTensors) {
  replace_in_config("\"architectures\"",
                    "\"quantization_config\": {\"quant_method\": \"fp8\", "
                    "\"weight_block_size\": [128, 128], "
                    "\"modules_to_not_convert\": [\"gate\", \"lm_head\"]}, \"architectures\"");
  const std::string error = load_error();
  EXPECT_NE(error.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("dtype BF16, expected F8_E4M3"), std::string::npos) << error;
}

}  // namespace
}  // namespace mm
