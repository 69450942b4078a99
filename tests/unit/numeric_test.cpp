#include "kernels/common/numeric.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/common/e4m3_portable.h"

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

// The HIP kernels' software FP8 (e4m3_portable.h) against the reference codec: every code
// decodes to the same bits, and encoding agrees on every code's value, on each midpoint
// between neighbours (ties to even), just either side of them, on the saturation and
// subnormal edges, and on a million random floats across the whole range.
TEST(Numeric, PortableE4M3MatchesReference) {
  auto bits = [](float v) {
    uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
  };
  for (int code = 0; code < 256; ++code) {
    const float want = e4m3fn_to_f32(static_cast<uint8_t>(code));
    const float got = portable::e4m3_to_float(static_cast<uint8_t>(code));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << code;
    } else {
      EXPECT_EQ(bits(got), bits(want)) << code;
    }
  }
  auto check = [&](float v) {
    ASSERT_EQ(portable::float_to_e4m3(v), f32_to_e4m3fn(v)) << v;
  };
  for (int code = 0; code < 256; ++code) {
    const float v = e4m3fn_to_f32(static_cast<uint8_t>(code));
    if (std::isnan(v)) continue;
    check(v);
    const float next = e4m3fn_to_f32(static_cast<uint8_t>(code + 1));
    if ((code & 0x7F) < 0x7E && !std::isnan(next)) {
      const float mid = (v + next) / 2;
      check(mid);
      check(std::nextafter(mid, 0.0f));
      check(std::nextafter(mid, v < 0 ? -1e9f : 1e9f));
    }
  }
  for (float v : {448.0f, 463.99f, 464.0f, 465.0f, 1e30f, INFINITY, -INFINITY, NAN, -NAN,
                  0.015625f, 0.0156249f, 0.0009765625f, 0.00097656f, 1e-30f, -0.0f}) {
    check(v);
  }
  std::mt19937 rng(20261201);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t b = any_bits(rng);
    float v;
    std::memcpy(&v, &b, sizeof v);
    check(v);
  }
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
