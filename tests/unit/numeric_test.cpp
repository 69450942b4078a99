#include "kernels/common/numeric.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mm {
namespace {

TEST(Numeric, DTypeNamesRoundTrip) {
  for (std::string_view name : {"BF16", "F16", "F32", "F8_E4M3", "F8_E5M2", "I8", "I32", "I64"}) {
    auto dtype = dtype_from_name(name);
    ASSERT_TRUE(dtype.has_value()) << name;
    EXPECT_EQ(dtype_name(*dtype), name);
  }
  EXPECT_FALSE(dtype_from_name("F8_E4M3FN").has_value());
  EXPECT_EQ(dtype_bits(DType::kF4), 4);
}

TEST(Numeric, E4M3KnownCodes) {
  EXPECT_EQ(e4m3fn_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3fn_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(e4m3fn_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3fn_to_f32(0xFF)));
  EXPECT_EQ(f32_to_e4m3fn(1000.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3fn(-INFINITY), 0xFE);
  EXPECT_EQ(f32_to_e4m3fn(NAN), 0x7F);
  EXPECT_EQ(f32_to_e5m2(1e6f, Overflow::kInf), 0x7C);
  EXPECT_EQ(f32_to_e5m2(1e6f, Overflow::kSaturate), 0x7B);
}

TEST(Numeric, Int4PackingMatchesSpecExample) {
  // quant-formats.md §2.2.3 worked example.
  const int8_t values[] = {-8, 7, 0, 1, -1, 3, -3, 2};
  auto words = int4_pack_row(values);
  ASSERT_EQ(words.size(), 1u);
  EXPECT_EQ(words[0], -1514694416);
  for (int k = 0; k < 8; ++k)
    EXPECT_EQ(int4_packed_get(words.data(), k), values[k]);
}

}  // namespace
}  // namespace mm
