// Which SIMD level the CPU kernels use, decided once at run time from CPUID. Thread-safe.
#pragma once

#include <string_view>

namespace mm {

enum class CpuIsa : uint8_t {
  kScalar,  // portable C++; the fallback and a differential-test reference
  kAvx2,    // AVX2 + FMA + F16C (Haswell / Zen and later)
};

// The best level this CPU supports, unless MMD_CPU_ISA=scalar caps it.
CpuIsa detected_cpu_isa();
std::string_view cpu_isa_name(CpuIsa isa);

}  // namespace mm
