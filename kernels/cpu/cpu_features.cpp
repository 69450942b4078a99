#include "kernels/cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace mm {

CpuIsa detected_cpu_isa() {
  static const CpuIsa isa = [] {
    const char* forced = std::getenv("MMD_CPU_ISA");
    if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return CpuIsa::kScalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c")) {
      return CpuIsa::kAvx2;
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
