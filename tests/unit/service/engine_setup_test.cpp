// --kv-cache-dtype auto follows the checkpoint's kv_cache_scheme, and every resolved setting
// says where it came from (flag, config, checkpoint, default).
#include "daemon/service/engine_setup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "daemon/model/checkpoint.h"
#include "daemon/model/model_runner.h"
#include "daemon/model/weight_packing.h"

namespace mm {
namespace {

const std::string kKvFp8 = std::string(MMD_FIXTURE_DIR) + "/tiny-fp8-w4a16-g128-kvfp8";
const std::string kBf16 = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";

KvCacheScheme fp8_scheme() {
  KvCacheScheme scheme;
  scheme.fp8 = true;
  scheme.k_scale_suffix = "self_attn.k_scale";
  scheme.v_scale_suffix = "self_attn.v_scale";
  scheme.origin = "kv_cache_scheme";
  return scheme;
}

TEST(KvCacheDtype, AutoTakesTheCheckpointSchemeWithItsScales) {
  const KvCacheChoice choice = resolve_kv_cache_dtype("auto", "default", fp8_scheme());
  EXPECT_EQ(choice.dtype, KvDType::kFp8E4M3);
  EXPECT_EQ(choice.source, "checkpoint");
  EXPECT_TRUE(choice.calibrated_scales);
}

TEST(KvCacheDtype, AutoWithoutASchemeIsBf16ByDefault) {
  const KvCacheChoice choice = resolve_kv_cache_dtype("auto", "default", KvCacheScheme{});
  EXPECT_EQ(choice.dtype, KvDType::kBf16);
  EXPECT_EQ(choice.source, "default");
  EXPECT_FALSE(choice.calibrated_scales);
  // auto given explicitly is still the checkpoint's (or the default's) choice.
  EXPECT_EQ(resolve_kv_cache_dtype("auto", "flag", fp8_scheme()).source, "checkpoint");
}

TEST(KvCacheDtype, AnExplicitValueWinsAndNamesItsSource) {
  const KvCacheChoice bf16 = resolve_kv_cache_dtype("bfloat16", "flag", fp8_scheme());
  EXPECT_EQ(bf16.dtype, KvDType::kBf16);
  EXPECT_EQ(bf16.source, "flag");
  EXPECT_FALSE(bf16.calibrated_scales);
  const KvCacheChoice f32 = resolve_kv_cache_dtype("float32", "config", fp8_scheme());
  EXPECT_EQ(f32.dtype, KvDType::kF32);
  EXPECT_EQ(f32.source, "config");
  // FP8 asked for on a checkpoint without a scheme: no calibrated scales (1.0).
  const KvCacheChoice fp8 = resolve_kv_cache_dtype("fp8", "flag", KvCacheScheme{});
  EXPECT_EQ(fp8.dtype, KvDType::kFp8E4M3);
  EXPECT_FALSE(fp8.calibrated_scales);
  EXPECT_TRUE(resolve_kv_cache_dtype("fp8_e4m3", "flag", fp8_scheme()).calibrated_scales);
}

const SettingOrigin* find_setting(const EngineSetup& setup, const std::string& name) {
  for (const SettingOrigin& s : setup.engine.settings) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

EngineSetup setup_of(const std::vector<std::string>& args) {
  DaemonConfig config;
  std::string exit_text;
  EXPECT_TRUE(parse_command_line(args, config, exit_text));
  return make_engine_setup(config);
}

void expect_setting(const EngineSetup& setup, const std::string& name, const std::string& value,
                    const std::string& source) {
  const SettingOrigin* s = find_setting(setup, name);
  ASSERT_NE(s, nullptr) << name;
  EXPECT_EQ(s->value, value) << name;
  EXPECT_EQ(s->source, source) << name;
}

TEST(EngineSetup, DefaultFlagsOnAKvFp8CheckpointRunItsFp8Cache) {
  const EngineSetup setup = setup_of({"--model", kKvFp8});
  EXPECT_EQ(setup.engine.runner.kv_dtype, KvDType::kFp8E4M3);
  expect_setting(setup, "kv_cache_dtype", "fp8_e4m3", "checkpoint");
  expect_setting(setup, "kv_cache_scales", "self_attn.k_scale, self_attn.v_scale per layer",
                 "checkpoint");
  expect_setting(setup, "max_model_len", "4096", "checkpoint");
  expect_setting(setup, "max_num_seqs", "64", "default");
  for (const std::string& note : setup.notes)
    EXPECT_EQ(note.find("kv-cache-dtype"), std::string::npos) << note;

  // The runner built from these options stores K and V with the checkpoint's own scales.
  const std::unique_ptr<ModelRunner> runner = ModelRunner::load(kKvFp8, setup.engine.runner);
  ASSERT_EQ(runner->kv_cache().dtype(), KvDType::kFp8E4M3);
  const Checkpoint checkpoint{std::filesystem::path(kKvFp8)};
  for (int64_t layer = 0; layer < runner->config().num_hidden_layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".self_attn.";
    const float k = load_f32_vector(checkpoint, checkpoint.find(prefix + "k_scale")).at(0);
    const float v = load_f32_vector(checkpoint, checkpoint.find(prefix + "v_scale")).at(0);
    EXPECT_NE(k, 1.0f) << "a calibrated scale, not the placeholder";
    EXPECT_EQ(runner->kv_cache().layer(layer).k_scale, k) << "layer " << layer;
    EXPECT_EQ(runner->kv_cache().layer(layer).v_scale, v) << "layer " << layer;
  }
}

TEST(EngineSetup, DefaultFlagsWithoutASchemeRunBf16AndSaySo) {
  const EngineSetup setup = setup_of({"--model", kBf16});
  EXPECT_EQ(setup.engine.runner.kv_dtype, KvDType::kBf16);
  expect_setting(setup, "kv_cache_dtype", "bfloat16", "default");
  EXPECT_EQ(find_setting(setup, "kv_cache_scales"), nullptr);
}

TEST(EngineSetup, SourcesAreFlagConfigCheckpointOrDefault) {
  char path[] = "/tmp/mmd-setup-XXXXXX";
  ::close(::mkstemp(path));
  std::ofstream(path) << "kv_cache_dtype = \"bfloat16\"\nmax_model_len = 2048\nmax_num_seqs = 8\n";
  // The file's kv_cache_dtype and max_model_len; a flag over the file for max_num_seqs.
  const EngineSetup from_file =
      setup_of({"--model", kKvFp8, "--config", path, "--max-num-seqs", "4"});
  EXPECT_EQ(from_file.engine.runner.kv_dtype, KvDType::kBf16);
  expect_setting(from_file, "kv_cache_dtype", "bfloat16", "config");
  expect_setting(from_file, "max_model_len", "2048", "config");
  expect_setting(from_file, "max_num_seqs", "4", "flag");
  EXPECT_EQ(find_setting(from_file, "kv_cache_scales"), nullptr);
  // Turning the checkpoint's FP8 cache off is said at start.
  ASSERT_EQ(from_file.notes.size(), 1u);
  EXPECT_NE(from_file.notes[0].find("overrides the checkpoint's FP8 kv_cache_scheme"),
            std::string::npos)
      << from_file.notes[0];

  const EngineSetup from_flag = setup_of(
      {"--model", kBf16, "--config", path, "--kv-cache-dtype", "fp8", "--max-model-len", "1024"});
  expect_setting(from_flag, "kv_cache_dtype", "fp8_e4m3", "flag");
  expect_setting(from_flag, "kv_cache_scales", "1.0", "default");
  expect_setting(from_flag, "max_model_len", "1024", "flag");
  ASSERT_EQ(from_flag.notes.size(), 1u);
  EXPECT_NE(from_flag.notes[0].find("no calibrated KV scales"), std::string::npos)
      << from_flag.notes[0];
  std::remove(path);
}

TEST(EngineSetup, SamplingDefaultsNameTheOverrideTheCheckpointOrVllm) {
  const EngineSetup setup =
      setup_of({"--model", kKvFp8, "--override-generation-config", R"({"temperature": 0.5})"});
  expect_setting(setup, "sampling.temperature", "0.5", "flag");
  expect_setting(setup, "sampling.top_p", "0.95", "checkpoint");  // generation_config.json
  expect_setting(setup, "sampling.top_k", "40", "checkpoint");
  expect_setting(setup, "sampling.min_p", "0", "default");
  expect_setting(setup, "sampling.max_tokens", "256", "default");
  // do_sample false in the override makes the defaults greedy, whatever the checkpoint's
  // temperature.
  const EngineSetup greedy =
      setup_of({"--model", kKvFp8, "--override-generation-config", R"({"do_sample": false})"});
  expect_setting(greedy, "sampling.temperature", "0", "flag");
  expect_setting(setup_of({"--model", kKvFp8}), "sampling.temperature", "1", "checkpoint");
}

TEST(EngineSetup, ChatTemplateSourceIsTheFileItCameFrom) {
  DaemonConfig config;
  config.model = "/models/m2";
  EXPECT_EQ(chat_template_setting(config, "/models/m2/chat_template.jinja").source, "checkpoint");
  EXPECT_EQ(chat_template_setting(config, "the MiniMax-M2 template built into mmd").source,
            "default");
  config.chat_template = "/etc/mmd/template.jinja";
  config.sources["chat_template"] = "config";
  const SettingOrigin s = chat_template_setting(config, "/etc/mmd/template.jinja");
  EXPECT_EQ(s.value, "/etc/mmd/template.jinja");
  EXPECT_EQ(s.source, "config");
}

}  // namespace
}  // namespace mm
