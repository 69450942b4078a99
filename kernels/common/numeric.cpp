#include "kernels/common/numeric.h"

#include <array>
#include <bit>
#include <cmath>
#include <limits>

namespace mm {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  int bits;
};

constexpr std::array<DTypeInfo, 22> kDTypes{{
    {DType::kBool, "BOOL", 8},
    {DType::kU8, "U8", 8},
    {DType::kI8, "I8", 8},
    {DType::kU16, "U16", 16},
    {DType::kI16, "I16", 16},
    {DType::kU32, "U32", 32},
    {DType::kI32, "I32", 32},
    {DType::kU64, "U64", 64},
    {DType::kI64, "I64", 64},
    {DType::kF16, "F16", 16},
    {DType::kBF16, "BF16", 16},
    {DType::kF32, "F32", 32},
    {DType::kF64, "F64", 64},
    {DType::kF8E4M3, "F8_E4M3", 8},
    {DType::kF8E5M2, "F8_E5M2", 8},
    {DType::kF8E8M0, "F8_E8M0", 8},
    {DType::kF8E4M3Fnuz, "F8_E4M3FNUZ", 8},
    {DType::kF8E5M2Fnuz, "F8_E5M2FNUZ", 8},
    {DType::kC64, "C64", 64},
    {DType::kF4, "F4", 4},
    {DType::kF6E2M3, "F6_E2M3", 6},
    {DType::kF6E3M2, "F6_E3M2", 6},
}};

// A small IEEE-style binary float with `ExpBits` exponent and `ManBits` mantissa bits.
// `kFiniteOnly` selects the "fn" flavour (e4m3fn): no infinities, the all-ones exponent holds
// normal numbers and only the all-ones code is NaN.
template <int ExpBits, int ManBits, bool kFiniteOnly>
struct MiniFloat {
  static constexpr int kBias = (1 << (ExpBits - 1)) - 1;
  static constexpr uint32_t kExpMask = (1u << ExpBits) - 1;
  static constexpr uint32_t kManMask = (1u << ManBits) - 1;
  static constexpr uint32_t kSignBit = 1u << (ExpBits + ManBits);
  static constexpr uint32_t kNaN = (kExpMask << ManBits) | kManMask;
  static constexpr uint32_t kInf = kExpMask << ManBits;
  static constexpr uint32_t kMaxFinite = kFiniteOnly ? kNaN - 1 : kInf - 1;

  static double decode(uint32_t code) {
    const bool negative = (code & kSignBit) != 0;
    const uint32_t exp = (code >> ManBits) & kExpMask;
    const uint32_t man = code & kManMask;
    double magnitude;
    if (kFiniteOnly && (code & ~kSignBit) == kNaN) {
      return std::numeric_limits<double>::quiet_NaN();
    } else if (!kFiniteOnly && exp == kExpMask) {
      if (man != 0) return std::numeric_limits<double>::quiet_NaN();
      magnitude = std::numeric_limits<double>::infinity();
    } else if (exp == 0) {
      magnitude = std::ldexp(static_cast<double>(man), 1 - kBias - ManBits);
    } else {
      magnitude = std::ldexp(static_cast<double>(man | (1u << ManBits)),
                             static_cast<int>(exp) - kBias - ManBits);
    }
    return negative ? -magnitude : magnitude;
  }

  // Round to nearest even. Works in double, where every step below is exact. Values beyond the
  // largest finite code become `overflow_code` (a saturated, infinite or NaN code).
  static uint32_t encode(float value, uint32_t overflow_code, uint32_t nan_code) {
    const uint32_t sign = std::signbit(value) ? kSignBit : 0u;
    if (std::isnan(value)) return sign | nan_code;
    double magnitude = std::fabs(static_cast<double>(value));
    if (std::isinf(magnitude)) return sign | overflow_code;
    if (magnitude == 0.0) return sign;

    constexpr int kMinNormalExp = 1 - kBias;
    int frexp_exp = 0;
    std::frexp(magnitude, &frexp_exp);  // magnitude = f * 2^frexp_exp, f in [0.5, 1)
    int exp = std::max(frexp_exp - 1, kMinNormalExp);
    // Scaled so that one unit is one step of the target format at this exponent.
    auto steps = static_cast<uint64_t>(std::nearbyint(std::ldexp(magnitude, ManBits - exp)));
    if (steps == (uint64_t{1} << (ManBits + 1))) {  // rounded up into the next binade
      steps >>= 1;
      ++exp;
    }
    uint32_t code;
    if (steps < (uint64_t{1} << ManBits)) {  // subnormal (or rounded to zero)
      code = static_cast<uint32_t>(steps);
    } else {
      const int64_t exp_field = exp + kBias;
      const uint64_t man = steps - (uint64_t{1} << ManBits);
      if (exp_field > static_cast<int64_t>(kExpMask)) return sign | overflow_code;
      code = static_cast<uint32_t>((exp_field << ManBits) | man);
      if (code > kMaxFinite) return sign | overflow_code;
    }
    return sign | code;
  }
};

using E4M3FN = MiniFloat<4, 3, true>;
using E5M2 = MiniFloat<5, 2, false>;
using F16 = MiniFloat<5, 10, false>;

template <typename Format>
constexpr std::array<float, 256> make_table() {
  std::array<float, 256> table{};
  for (uint32_t code = 0; code < 256; ++code) {
    table[code] = static_cast<float>(Format::decode(code));
  }
  return table;
}

const std::array<float, 256> kE4M3Table = make_table<E4M3FN>();
const std::array<float, 256> kE5M2Table = make_table<E5M2>();

}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

std::string_view dtype_name(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

int dtype_bits(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.bits;
  }
  return 0;
}

uint16_t f32_to_bf16(float value) {
  const auto bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return 0x7FC0;
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);
}

float f16_to_f32(uint16_t bits) {
  return static_cast<float>(F16::decode(bits));
}

uint16_t f32_to_f16(float value) {
  return static_cast<uint16_t>(F16::encode(value, F16::kInf, 0x7E00));
}

float e4m3fn_to_f32(uint8_t code) {
  return kE4M3Table[code];
}
float e5m2_to_f32(uint8_t code) {
  return kE5M2Table[code];
}

uint8_t f32_to_e4m3fn(float value) {
  return static_cast<uint8_t>(E4M3FN::encode(value, E4M3FN::kMaxFinite, E4M3FN::kNaN));
}

uint8_t f32_to_e5m2(float value, Overflow overflow) {
  const uint32_t overflow_code = overflow == Overflow::kSaturate ? E5M2::kMaxFinite : E5M2::kInf;
  return static_cast<uint8_t>(E5M2::encode(value, overflow_code, E5M2::kNaN));
}

std::vector<int32_t> int4_pack_row(std::span<const int8_t> values) {
  std::vector<int32_t> words((values.size() + 7) / 8, 0);
  for (size_t k = 0; k < values.size(); ++k) {
    const auto stored = static_cast<uint32_t>(values[k] + 8) & 0xFu;
    auto word = static_cast<uint32_t>(words[k / 8]);
    word |= stored << ((k % 8) * 4);
    words[k / 8] = static_cast<int32_t>(word);
  }
  return words;
}

}  // namespace mm
