// The device side of the CUDA / HIP portability layer: the warp width of the target being
// compiled, warp shuffles, and the FP8 E4M3 conversions (HIP 5.2 has no FP8 types: HIP takes
// kernels/common/e4m3_portable.h; both give the values kernels/common/numeric.h gives).
// Included only by .cu files (nvcc, or hipcc -x hip).
#pragma once

#if defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>
#else
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#endif

#include <cstdint>

#include "kernels/common/e4m3_portable.h"

namespace mm::cuda {

// Threads per warp (NVIDIA) or wavefront (AMD) of the target this pass compiles for: clang
// defines __AMDGCN_WAVEFRONT_SIZE per --offload-arch (64 on gfx90a, 32 on gfx1030). The HIP
// host pass has no target; it only needs a constant for __launch_bounds__, so it takes the
// largest (the launchers size blocks from the device's queried width, gpu_runtime.h).
#if defined(__HIP_PLATFORM_AMD__)
#if defined(__AMDGCN_WAVEFRONT_SIZE)
inline constexpr int kWarp = __AMDGCN_WAVEFRONT_SIZE;
#else
inline constexpr int kWarp = 64;
#endif
inline constexpr int kMaxWarp = 64;
#if defined(__gfx90a__)
static_assert(kWarp == 64, "CDNA2 runs wave64");
#elif defined(__gfx1030__)
static_assert(kWarp == 32, "RDNA2 compiles wave32 by default");
#endif
#else
inline constexpr int kWarp = 32;
inline constexpr int kMaxWarp = 32;
#endif

template <class T>
__device__ __forceinline__ T shfl_xor(T value, int lane_mask) {
#if defined(__HIP_PLATFORM_AMD__)
  return __shfl_xor(value, lane_mask, kWarp);
#else
  return __shfl_xor_sync(0xFFFFFFFFu, value, lane_mask);
#endif
}

// Exact for every code (NaN codes give NaN).
__device__ __forceinline__ float e4m3_to_float(uint8_t code) {
#if defined(__HIP_PLATFORM_AMD__)
  return portable::e4m3_to_float(code);
#else
  const __half_raw half = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), __NV_E4M3);
  return __half2float(__half(half));
#endif
}

// Round to nearest even, saturating to ±448, NaN stays NaN: f32_to_e4m3fn.
__device__ __forceinline__ uint8_t float_to_e4m3(float value) {
#if defined(__HIP_PLATFORM_AMD__)
  return portable::float_to_e4m3(value);
#else
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(value, __NV_SATFINITE, __NV_E4M3));
#endif
}

}  // namespace mm::cuda
