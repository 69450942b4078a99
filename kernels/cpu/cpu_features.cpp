#include "kernels/cpu/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace mm {

CpuIsa detected_cpu_isa() {
  static const CpuIsa isa = [] {
    const char* forced = std::getenv("MMD_CPU_ISA");
    if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return CpuIsa::kScalar;
#if defined(__x86_64__)
    // CPUID directly: clang 14's __builtin_cpu_supports does not know "f16c". Leaf 1 ECX:
    // FMA bit 12, OSXSAVE bit 27, F16C bit 29; leaf 7 EBX: AVX2 bit 5; XCR0 bits 1-2: the OS
    // saves the YMM registers.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
      const bool fma = ecx & (1u << 12);
      const bool osxsave = ecx & (1u << 27);
      const bool f16c = ecx & (1u << 29);
      unsigned leaf7_ebx = 0;
      if (__get_cpuid_count(7, 0, &eax, &leaf7_ebx, &ecx, &edx) && osxsave) {
        uint32_t xcr0_low = 0, xcr0_high = 0;
        __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
        const bool ymm_saved = (xcr0_low & 0x6u) == 0x6u;
        if (fma && f16c && (leaf7_ebx & (1u << 5)) && ymm_saved) return CpuIsa::kAvx2;
      }
    }
#endif
    return CpuIsa::kScalar;
  }();
  return isa;
}

std::string_view cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2+fma+f16c";
  }
  return "?";
}

}  // namespace mm
