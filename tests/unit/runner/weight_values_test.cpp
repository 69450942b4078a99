// Issue 15: NaN, Inf, negative and all-zero scales and non-finite norm weights are refused at
// load, naming the file, the tensor and the element; before, they loaded silently (W4A16 Inf,
// FP8 NaN, Quark NaN, BF16 norm NaN, all-zero scales) or, for NaN W4A16 scales, with a
// message about BF16 rounding. Each case patches one element of a bundled tiny checkpoint.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>

#include "daemon/model/load_error.h"
#include "daemon/model/model_runner.h"
#include "daemon/model/safetensors.h"

namespace mm {
namespace {

namespace fs = std::filesystem;

const fs::path kModels = fs::path(MMD_SOURCE_DIR) / "models/minimax-m2-tiny";

// A copy of bundled checkpoint `base` in which element `index` of `tensor` (or every element,
// index < 0) holds the f32 bit pattern `bits`, converted to the tensor's dtype.
fs::path patched_copy(const std::string& base, const std::string& tensor, int64_t index,
                      uint32_t bits) {
  const fs::path dir =
      fs::temp_directory_path() / ("mmd-weight-values-" + std::to_string(::getpid()) + "-" + base);
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(kModels / base))
    fs::copy_file(entry.path(), dir / entry.path().filename());
  uint64_t data_offset = 0, begin = 0, count = 0;
  DType dtype{};
  {
    const SafetensorsFile file(dir / "model.safetensors");
    data_offset = file.data_offset();
    for (const TensorInfo& info : file.tensors()) {
      if (info.name != tensor) continue;
      begin = info.data_begin;
      count = static_cast<uint64_t>(info.num_elements());
      dtype = info.dtype;
    }
  }
  EXPECT_GT(count, 0u) << tensor;
  std::fstream out(dir / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
  const size_t width = dtype == DType::kF32 ? 4 : 2;
  const uint64_t first = index < 0 ? 0 : static_cast<uint64_t>(index);
  const uint64_t last = index < 0 ? count : first + 1;
  for (uint64_t i = first; i < last; ++i) {
    out.seekp(static_cast<std::streamoff>(data_offset + begin + i * width));
    if (width == 4) {
      out.write(reinterpret_cast<const char*>(&bits), 4);
    } else {
      const uint16_t top = static_cast<uint16_t>(bits >> 16);  // BF16
      out.write(reinterpret_cast<const char*>(&top), 2);
    }
  }
  return dir;
}

std::string load_error(const fs::path& dir) {
  try {
    RunnerOptions options;
    options.num_threads = 1;
    ModelRunner::load(dir, options);
  } catch (const LoadError& error) {
    fs::remove_all(dir);
    return error.what();
  }
  fs::remove_all(dir);
  return "";
}

constexpr uint32_t kNaN = 0x7FC00000u;
constexpr uint32_t kInf = 0x7F800000u;
constexpr uint32_t kZero = 0;
constexpr uint32_t kMinusHalf = 0xBF000000u;

struct Case {
  const char* name;
  const char* base;
  const char* tensor;
  int64_t index;
  uint32_t bits;
  const char* message;
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << c.name;
}

class WeightValues : public ::testing::TestWithParam<Case> {};

TEST_P(WeightValues, AreRefusedNamingTheTensorAndElement) {
  const Case& c = GetParam();
  const std::string error = load_error(patched_copy(c.base, c.tensor, c.index, c.bits));
  EXPECT_NE(error.find("model.safetensors: tensor '" + std::string(c.tensor) + "'"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(c.message), std::string::npos) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Issue15, WeightValues,
    ::testing::Values(Case{"W4A16ScaleInf", "fp8-w4a16-g32",
                           "model.layers.1.block_sparse_moe.experts.2.w1.weight_scale", 9, kInf,
                           "element 9 is +Inf"},
                      // Before: "is not exactly a BF16 value", which sends the user the wrong way.
                      Case{"W4A16ScaleNaN", "fp8-w4a16-g32",
                           "model.layers.0.block_sparse_moe.experts.0.w3.weight_scale", 4, kNaN,
                           "element 4 is NaN"},
                      Case{"Fp8BlockScaleNaN", "fp8",
                           "model.layers.2.block_sparse_moe.experts.5.w2.weight_scale_inv", 0, kNaN,
                           "element 0 is NaN"},
                      Case{"QuarkInt8ScaleNaN", "w8a8-int8",
                           "model.layers.3.self_attn.o_proj.weight_scale", 17, kNaN,
                           "element 17 is NaN"},
                      Case{"Bf16NormNaN", "bf16", "model.layers.1.post_attention_layernorm.weight",
                           100, kNaN, "element 100 is NaN"},
                      Case{"AllZeroW4A16Scales", "fp8-w4a16-g32",
                           "model.layers.2.block_sparse_moe.experts.1.w2.weight_scale", -1, kZero,
                           "elements are zero"},
                      Case{"AllZeroFp8Scales", "fp8",
                           "model.layers.0.self_attn.q_proj.weight_scale_inv", -1, kZero,
                           "elements are zero"},
                      Case{"NegativeQuarkScale", "w8a8-int8",
                           "model.layers.0.block_sparse_moe.experts.3.w1.weight_scale", 2,
                           kMinusHalf, "must not be negative"},
                      Case{"KvScaleInf", "fp8-w4a16-g128-kvfp8", "model.layers.1.self_attn.v_scale",
                           0, kInf, "element 0 is +Inf"}),
    [](const ::testing::TestParamInfo<Case>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(WeightValues, BundledCheckpointsStillLoad) {
  for (const char* base : {"bf16", "fp8", "fp8-w4a16-g32", "fp8-w4a16-g128-kvfp8", "w8a8-int8",
                           "bf16-w4a16-g32-lastbf16"}) {
    RunnerOptions options;
    options.num_threads = 1;
    EXPECT_NO_THROW(ModelRunner::load(kModels / base, options)) << base;
  }
}

}  // namespace
}  // namespace mm
