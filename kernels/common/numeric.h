// Scalar number formats of the checkpoints mmd reads, and exact conversions between them.
// Thread-safe: every function here is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace mm {

// Element types as spelled in safetensors headers (safetensors `Dtype`), in one enum shared by
// the loader and the kernels.
enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kU64,
  kI64,
  kF16,
  kBF16,
  kF32,
  kF64,
  kF8E4M3,  // float8_e4m3fn (OCP): bias 7, no inf, NaN = S.1111.111, max 448
  kF8E5M2,  // float8_e5m2: bias 15, IEEE-like inf/NaN, max 57344
  kF8E8M0,
  kF8E4M3Fnuz,
  kF8E5M2Fnuz,
  kC64,
  kF4,
  kF6E2M3,
  kF6E3M2,
};

// Parses a safetensors dtype string ("BF16", "F8_E4M3", ...); nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);
// The safetensors spelling of `dtype`.
std::string_view dtype_name(DType dtype);
// Bits per element (4 for F4, 6 for F6_*).
int dtype_bits(DType dtype);

// --- 16-bit floats -------------------------------------------------------------------------

// bf16 is the upper half of an f32: widening is exact.
inline float bf16_to_f32(uint16_t bits);
// Round to nearest, ties to even; NaN becomes the canonical quiet NaN 0x7FC0 (as torch does).
uint16_t f32_to_bf16(float value);

float f16_to_f32(uint16_t bits);
// Round to nearest even; overflow to ±inf; NaN keeps its sign as the quiet NaN 0x7E00.
uint16_t f32_to_f16(float value);

// --- 8-bit floats --------------------------------------------------------------------------

// Exact decode of every code (NaN codes give a quiet NaN).
float e4m3fn_to_f32(uint8_t code);
float e5m2_to_f32(uint8_t code);

// Round to nearest even, saturating: values beyond ±448 (infinities included) become ±448,
// NaN stays NaN. This is what torch's `.to(torch.float8_e4m3fn)` does (torch 2.15, checked by
// tests/unit/numeric_torch_test.cpp) and what vLLM's quantizers (__NV_SATFINITE) do.
uint8_t f32_to_e4m3fn(float value);

// How the e5m2 encoder treats values beyond the largest finite code (57344).
enum class Overflow : uint8_t {
  kInf,       // torch's `.to(torch.float8_e5m2)`: overflow becomes ±inf
  kSaturate,  // clamp to ±57344
};
// Round to nearest even.
uint8_t f32_to_e5m2(float value, Overflow overflow = Overflow::kSaturate);

inline constexpr float kE4M3Max = 448.0f;

// --- integers packed by compressed-tensors (quant-formats.md §2.2.3) -------------------------

// Element `k` of a row packed 8 nibbles per int32, element 0 in the least significant nibble,
// stored with a +8 offset. Returns the signed value in [-8, 7].
inline int int4_packed_get(const int32_t* row_words, int64_t k) {
  const uint32_t word = static_cast<uint32_t>(row_words[k >> 3]);
  return static_cast<int>((word >> ((k & 7) * 4)) & 0xFu) - 8;
}
// Packs signed values in [-8, 7] the way compressed-tensors' pack_to_int32 does; unused nibbles
// of the last word stay zero.
std::vector<int32_t> int4_pack_row(std::span<const int8_t> values);

// --- inline definitions ----------------------------------------------------------------------

inline float bf16_to_f32(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float out;
  __builtin_memcpy(&out, &widened, sizeof(out));
  return out;
}

}  // namespace mm
