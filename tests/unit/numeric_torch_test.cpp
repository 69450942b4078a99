// Conversions checked bit for bit against what torch produced (tests/fixtures/numeric, made by
// tools/reference/make_fixtures.py): every fp8 code, ties, saturation, NaN and infinities.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "daemon/model/safetensors.h"
#include "kernels/common/numeric.h"

namespace mm {
namespace {

class TorchNumerics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    file_ = new SafetensorsFile(std::string(MMD_FIXTURE_DIR) + "/numeric/numeric.safetensors");
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  static TensorView tensor(const std::string& name) {
    for (const TensorInfo& info : file_->tensors()) {
      if (info.name == name) return file_->view(info);
    }
    ADD_FAILURE() << "fixture has no tensor " << name;
    return {};
  }
  static SafetensorsFile* file_;
};

SafetensorsFile* TorchNumerics::file_ = nullptr;

// Same value, or both NaN.
bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

TEST_F(TorchNumerics, DecodesEveryFp8Code) {
  const TensorView e4m3 = tensor("e4m3_decode");
  const TensorView e5m2 = tensor("e5m2_decode");
  ASSERT_EQ(e4m3.info->num_elements(), 256);
  for (int code = 0; code < 256; ++code) {
    EXPECT_TRUE(same_float(e4m3fn_to_f32(static_cast<uint8_t>(code)), e4m3.get_f32(code)))
        << "e4m3 code " << code;
    EXPECT_TRUE(same_float(e5m2_to_f32(static_cast<uint8_t>(code)), e5m2.get_f32(code)))
        << "e5m2 code " << code;
  }
}

TEST_F(TorchNumerics, EncodesLikeTorch) {
  const TensorView samples = tensor("samples");
  const TensorView to_e4m3 = tensor("to_e4m3");
  const TensorView to_e4m3_sat = tensor("to_e4m3_sat");
  const TensorView to_e5m2 = tensor("to_e5m2");
  const TensorView to_e5m2_sat = tensor("to_e5m2_sat");
  const TensorView to_bf16 = tensor("to_bf16");
  const TensorView to_f16 = tensor("to_f16");
  const int64_t n = samples.info->num_elements();
  ASSERT_GT(n, 1000);
  int num_mismatches = 0;
  for (int64_t i = 0; i < n && num_mismatches < 20; ++i) {
    const float x = samples.get_f32(i);
    // NaN results are compared by NaN-ness only: torch itself encodes NaN differently in its
    // scalar (c10::BFloat16: 0x7FC0) and vectorized (0xFFFF) bf16 paths, and keeps f16 payloads.
    auto check = [&](const char* what, int64_t ours, int64_t theirs, float (*decode)(int64_t)) {
      if (std::isnan(x) && std::isnan(decode(ours)) && std::isnan(decode(theirs))) return;
      if (ours != theirs) {
        ++num_mismatches;
        ADD_FAILURE() << what << " of " << x << " (bits 0x" << std::hex
                      << std::bit_cast<uint32_t>(x) << "): ours 0x" << ours << ", torch 0x"
                      << theirs << std::dec;
      }
    };
    auto e4m3 = [](int64_t c) { return e4m3fn_to_f32(static_cast<uint8_t>(c)); };
    auto e5m2 = [](int64_t c) { return e5m2_to_f32(static_cast<uint8_t>(c)); };
    auto bf16 = [](int64_t c) { return bf16_to_f32(static_cast<uint16_t>(c)); };
    auto f16 = [](int64_t c) { return f16_to_f32(static_cast<uint16_t>(c)); };
    // torch's plain e4m3fn cast saturates like the clamped one (torch 2.15).
    check("e4m3", f32_to_e4m3fn(x), to_e4m3.get_i64(i) & 0xFF, e4m3);
    check("e4m3 clamped", f32_to_e4m3fn(x), to_e4m3_sat.get_i64(i) & 0xFF, e4m3);
    check("e5m2", f32_to_e5m2(x, Overflow::kInf), to_e5m2.get_i64(i) & 0xFF, e5m2);
    check("e5m2 clamped", f32_to_e5m2(x, Overflow::kSaturate), to_e5m2_sat.get_i64(i) & 0xFF, e5m2);
    check("bf16", f32_to_bf16(x), to_bf16.get_i64(i) & 0xFFFF, bf16);
    check("f16", f32_to_f16(x), to_f16.get_i64(i) & 0xFFFF, f16);
  }
  EXPECT_EQ(num_mismatches, 0);
}

TEST_F(TorchNumerics, Int4PackingMatchesCompressedTensors) {
  const TensorView values = tensor("int4_values");
  const TensorView packed = tensor("int4_packed");
  const int64_t rows = values.shape()[0];
  const int64_t cols = values.shape()[1];
  const int64_t words = packed.shape()[1];
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int8_t> row(static_cast<size_t>(cols));
    std::vector<int32_t> stored(static_cast<size_t>(words));
    for (int64_t k = 0; k < cols; ++k)
      row[k] = static_cast<int8_t>(values.get_i64(r * cols + k));
    for (int64_t w = 0; w < words; ++w)
      stored[w] = static_cast<int32_t>(packed.get_i64(r * words + w));
    EXPECT_EQ(int4_pack_row(row), stored) << "row " << r;
    for (int64_t k = 0; k < cols; ++k) {
      ASSERT_EQ(int4_packed_get(stored.data(), k), row[k]) << "row " << r << " col " << k;
    }
  }
}

TEST_F(TorchNumerics, ZeroPointsPackAlongRows) {
  // compressed-tensors packs zero points down the output dimension: nibble n % 8 of word
  // (n / 8, g) holds row n's zero point for group g.
  const TensorView values = tensor("zp_values");
  const TensorView packed = tensor("zp_packed");
  const int64_t rows = values.shape()[0];
  const int64_t groups = values.shape()[1];
  for (int64_t n = 0; n < rows; ++n) {
    for (int64_t g = 0; g < groups; ++g) {
      const auto word = static_cast<uint32_t>(packed.get_i64((n / 8) * groups + g));
      const int unpacked = static_cast<int>((word >> ((n % 8) * 4)) & 0xF) - 8;
      EXPECT_EQ(unpacked, values.get_i64(n * groups + g)) << "row " << n << " group " << g;
    }
  }
}

}  // namespace
}  // namespace mm
