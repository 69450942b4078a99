// Which SIMD level the CPU kernels use, decided once at run time from CPUID, and which numerics
// (exact f32 or fast int8-dot) a backend runs. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mm {

// Ordered: every level from kAvx2 up also runs the AVX2 exact-f32 kernels. The three upper levels
// differ only in the int8 dot product of the fast kernels (linear_int8dot_*.cpp):
enum class CpuIsa : uint8_t {
  kScalar,      // portable C++; the fallback and a differential-test reference
  kAvx2,        // AVX2 + FMA + F16C (Haswell / Zen and later): vpmaddubsw + vpmaddwd
  kAvxVnni,     // + AVX-VNNI (Alder Lake, Sapphire Rapids, Zen 5): vpdpbusd on ymm
  kAvx512Vnni,  // + AVX-512 F/BW/VL/VNNI (Ice Lake, Zen 4 and later): vpdpbusd on zmm
};

// What the CPU linear kernels compute (kernels/README.md "Numerics"). kExact: every weight
// decoded to its exact f32 value, f32 activations (the golden tests' path). kFast: activations
// quantized per token in blocks of 32 columns to int8, integer dot products, block scales in f32.
enum class CpuNumerics : uint8_t { kExact, kFast };

// "exact" / "fast"; nullopt for anything else.
std::optional<CpuNumerics> parse_cpu_numerics(std::string_view name);
std::string_view cpu_numerics_name(CpuNumerics numerics);

// True when this CPU (and OS) can run `isa`'s kernels.
bool cpu_supports(CpuIsa isa);
// The best level this CPU supports; MMD_CPU_ISA=scalar|avx2|avxvnni|avx512vnni caps it (a level
// the CPU lacks is ignored).
CpuIsa detected_cpu_isa();
// "scalar", "avx2", "avxvnni", "avx512vnni" (the MMD_CPU_ISA names).
std::string_view cpu_isa_name(CpuIsa isa);
std::optional<CpuIsa> parse_cpu_isa(std::string_view name);

}  // namespace mm
