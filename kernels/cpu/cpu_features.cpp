#include "kernels/cpu/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace mm {
namespace {

struct Features {
  bool avx2 = false, avx_vnni = false, avx512_vnni = false;
};

// CPUID directly: clang 14's __builtin_cpu_supports does not know "f16c" or "avxvnni".
Features read_features() {
  Features f;
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  // Leaf 1 ECX: FMA bit 12, OSXSAVE bit 27, F16C bit 29.
  const bool fma = ecx & (1u << 12);
  const bool osxsave = ecx & (1u << 27);
  const bool f16c = ecx & (1u << 29);
  if (!osxsave) return f;
  unsigned l7_ebx = 0, l7_ecx = 0, l7_edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &l7_ebx, &l7_ecx, &l7_edx)) return f;
  unsigned l71_eax = 0;
  if (eax >= 1) __get_cpuid_count(7, 1, &l71_eax, &ebx, &ecx, &edx);
  uint32_t xcr0_low = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  // XCR0 bits 1-2: the OS saves XMM/YMM; bits 5-7: opmask and the upper ZMM registers.
  const bool ymm_saved = (xcr0_low & 0x6u) == 0x6u;
  const bool zmm_saved = (xcr0_low & 0xE6u) == 0xE6u;
  // Leaf 7 EBX: AVX2 bit 5, AVX512F 16, AVX512BW 30, AVX512VL 31; ECX: AVX512_VNNI bit 11;
  // leaf 7.1 EAX: AVX-VNNI bit 4.
  f.avx2 = fma && f16c && (l7_ebx & (1u << 5)) && ymm_saved;
  f.avx_vnni = f.avx2 && (l71_eax & (1u << 4));
  f.avx512_vnni = f.avx2 && zmm_saved && (l7_ebx & (1u << 16)) && (l7_ebx & (1u << 30)) &&
                  (l7_ebx & (1u << 31)) && (l7_ecx & (1u << 11));
#endif
  return f;
}

const Features& features() {
  static const Features f = read_features();
  return f;
}

}  // namespace

std::optional<CpuNumerics> parse_cpu_numerics(std::string_view name) {
  if (name == "exact") return CpuNumerics::kExact;
  if (name == "fast") return CpuNumerics::kFast;
  return std::nullopt;
}

std::string_view cpu_numerics_name(CpuNumerics numerics) {
  return numerics == CpuNumerics::kExact ? "exact" : "fast";
}

bool cpu_supports(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return true;
    case CpuIsa::kAvx2:
      return features().avx2;
    case CpuIsa::kAvxVnni:
      return features().avx_vnni;
    case CpuIsa::kAvx512Vnni:
      return features().avx512_vnni;
  }
  return false;
}

CpuIsa detected_cpu_isa() {
  static const CpuIsa isa = [] {
    const char* forced = std::getenv("MMD_CPU_ISA");
    if (forced != nullptr) {
      const std::optional<CpuIsa> want = parse_cpu_isa(forced);
      if (want.has_value() && cpu_supports(*want)) return *want;
    }
    for (CpuIsa best : {CpuIsa::kAvx512Vnni, CpuIsa::kAvxVnni, CpuIsa::kAvx2}) {
      if (cpu_supports(best)) return best;
    }
    return CpuIsa::kScalar;
  }();
  return isa;
}

std::string_view cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvxVnni:
      return "avxvnni";
    case CpuIsa::kAvx512Vnni:
      return "avx512vnni";
  }
  return "?";
}

std::optional<CpuIsa> parse_cpu_isa(std::string_view name) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvxVnni, CpuIsa::kAvx512Vnni}) {
    if (name == cpu_isa_name(isa)) return isa;
  }
  return std::nullopt;
}

}  // namespace mm
