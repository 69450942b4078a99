// The host side of the GPU runtime, one spelling for CUDA and HIP: the CUDA backend's sources
// compile for either platform (nvcc: CUDA; hipcc or a host compiler with __HIP_PLATFORM_AMD__:
// HIP) through these inline wrappers and aliases. Only the calls the backend makes are here;
// a wrapper that both runtimes spell the same way is still a wrapper, so no file outside this
// one names a cuda* or hip* runtime function.
#pragma once

#if defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime_api.h>
#else
#include <cuda_runtime_api.h>
#endif

#include <cstddef>
#include <stdexcept>
#include <string>

namespace mm::gpu {

#if defined(__HIP_PLATFORM_AMD__)
using Stream = hipStream_t;
using Error = hipError_t;
inline constexpr Error kSuccess = hipSuccess;
inline constexpr const char* kPlatform = "HIP";
inline constexpr const char* kBackendName = "hip";
#else
using Stream = cudaStream_t;
using Error = cudaError_t;
inline constexpr Error kSuccess = cudaSuccess;
inline constexpr const char* kPlatform = "CUDA";
inline constexpr const char* kBackendName = "cuda";
#endif

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };

#if defined(__HIP_PLATFORM_AMD__)
inline const char* error_name(Error e) { return hipGetErrorName(e); }
inline const char* error_string(Error e) { return hipGetErrorString(e); }
inline Error get_last_error() { return hipGetLastError(); }
inline Error device_count(int* count) { return hipGetDeviceCount(count); }
inline Error set_device(int device) { return hipSetDevice(device); }
inline Error malloc_device(void** ptr, size_t num_bytes) { return hipMalloc(ptr, num_bytes); }
inline Error free_device(void* ptr) { return hipFree(ptr); }
inline Error stream_create(Stream* stream) { return hipStreamCreate(stream); }
inline Error stream_destroy(Stream stream) { return hipStreamDestroy(stream); }
inline Error stream_synchronize(Stream stream) { return hipStreamSynchronize(stream); }
inline Error memset_async(void* dst, int value, size_t num_bytes, Stream stream) {
  return hipMemsetAsync(dst, value, num_bytes, stream);
}
inline Error memcpy_async(void* dst, const void* src, size_t num_bytes, CopyKind kind,
                          Stream stream) {
  const hipMemcpyKind k = kind == CopyKind::kHostToDevice   ? hipMemcpyHostToDevice
                          : kind == CopyKind::kDeviceToHost ? hipMemcpyDeviceToHost
                                                            : hipMemcpyDeviceToDevice;
  return hipMemcpyAsync(dst, src, num_bytes, k, stream);
}
inline Error warp_size(int device, int* size) {
  return hipDeviceGetAttribute(size, hipDeviceAttributeWarpSize, device);
}
#else
inline const char* error_name(Error e) { return cudaGetErrorName(e); }
inline const char* error_string(Error e) { return cudaGetErrorString(e); }
inline Error get_last_error() { return cudaGetLastError(); }
inline Error device_count(int* count) { return cudaGetDeviceCount(count); }
inline Error set_device(int device) { return cudaSetDevice(device); }
inline Error malloc_device(void** ptr, size_t num_bytes) { return cudaMalloc(ptr, num_bytes); }
inline Error free_device(void* ptr) { return cudaFree(ptr); }
inline Error stream_create(Stream* stream) { return cudaStreamCreate(stream); }
inline Error stream_destroy(Stream stream) { return cudaStreamDestroy(stream); }
inline Error stream_synchronize(Stream stream) { return cudaStreamSynchronize(stream); }
inline Error memset_async(void* dst, int value, size_t num_bytes, Stream stream) {
  return cudaMemsetAsync(dst, value, num_bytes, stream);
}
inline Error memcpy_async(void* dst, const void* src, size_t num_bytes, CopyKind kind,
                          Stream stream) {
  const cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                                                             : cudaMemcpyDeviceToDevice;
  return cudaMemcpyAsync(dst, src, num_bytes, k, stream);
}
inline Error warp_size(int device, int* size) {
  return cudaDeviceGetAttribute(size, cudaDevAttrWarpSize, device);
}
#endif

// Throws std::runtime_error naming the platform, the call and the runtime's error.
inline void check(Error status, const char* call) {
  if (status != kSuccess) {
    throw std::runtime_error(std::string(kPlatform) + ": " + call + ": " + error_name(status) +
                             " (" + error_string(status) + ")");
  }
}

// The launchers size their blocks by the device's warp (wavefront) width: 32 on NVIDIA and
// RDNA, 64 on CDNA. The host pass is compiled once for every target, so it asks the device;
// the kernels see the same width as a compile-time constant (device_compat.cuh).
struct LaunchShape {
  int warp = 32;
};

}  // namespace mm::gpu
