// FP8 E4M3 (float8_e4m3fn) conversions in plain bit arithmetic, callable from host code and
// from GPU kernels (nvcc, hipcc): the HIP build's device code uses them where CUDA has FP8
// intrinsics (HIP 5.2 has no FP8 types). Same values as kernels/common/numeric.h's
// e4m3fn_to_f32 / f32_to_e4m3fn, checked for every code and across the float range by
// tests/unit/numeric_test.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define MMD_HOST_DEVICE __host__ __device__
#else
#define MMD_HOST_DEVICE
#endif

namespace mm::portable {

MMD_HOST_DEVICE inline float bits_to_float(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

MMD_HOST_DEVICE inline uint32_t float_to_bits(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Exact for every code; the NaN codes (S.1111.111) give a quiet NaN of that sign.
MMD_HOST_DEVICE inline float e4m3_to_float(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xFu;
  const uint32_t mantissa = code & 0x7u;
  if (exponent == 0xFu && mantissa == 0x7u) return bits_to_float(sign | 0x7FC00000u);
  if (exponent == 0) {  // subnormal: mantissa · 2^-9, exact in f32
    const float magnitude = static_cast<float>(mantissa) * 0.001953125f;
    return sign != 0 ? -magnitude : magnitude;
  }
  return bits_to_float(sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

// Round to nearest even, saturating to ±448 (infinities included), NaN stays NaN (S.1111.111).
MMD_HOST_DEVICE inline uint8_t float_to_e4m3(float value) {
  const uint32_t bits = float_to_bits(value);
  const auto sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return static_cast<uint8_t>(sign | 0x7Fu);  // NaN
  if (magnitude >= 0x43E00000u) return static_cast<uint8_t>(sign | 0x7Eu);  // ≥ 448
  if (magnitude < 0x3C800000u) {
    // Below 2^-6: subnormal codes in steps of 2^-9. m · 2^9 is exact; round half to even.
    const float steps = bits_to_float(magnitude) * 512.0f;
    auto whole = static_cast<uint32_t>(steps);
    const float rest = steps - static_cast<float>(whole);
    if (rest > 0.5f || (rest == 0.5f && (whole & 1u) != 0)) ++whole;
    return static_cast<uint8_t>(sign | whole);  // whole ≤ 8: 8 is the smallest normal code
  }
  // Normal: keep 3 of the 23 mantissa bits, rounding half to even on the 20 dropped ones
  // (a carry moves into the exponent, as it should).
  const uint32_t rounded = magnitude + 0x7FFFFu + ((magnitude >> 20) & 1u);
  const uint32_t exponent = (rounded >> 23) - 120u;
  const uint32_t mantissa = (rounded >> 20) & 0x7u;
  return static_cast<uint8_t>(sign | (exponent << 3) | mantissa);
}

}  // namespace mm::portable
