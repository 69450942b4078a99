// Builds the backend a device name asks for: "cpu", "cuda" / "cuda:N" (the cuda preset) or
// "hip" / "hip:N" (the hip preset); a bare platform name is its device 0. Used by the model
// runner's loader; the names are what `mmd --device` takes.
#pragma once

#include <memory>
#include <string_view>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace mm {

// The GPU platform a device name names ("cuda" for cuda / cuda:N, "hip" for hip / hip:N), or
// empty for any other name.
std::string_view gpu_platform_of(std::string_view device);
// True when this build has the backend of `platform` ("cuda", "hip"): one GPU platform per build.
bool gpu_backend_built(std::string_view platform);
// Devices of `platform` this process can use (0 without its backend, a driver or a GPU).
int gpu_device_count(std::string_view platform);
inline bool cuda_backend_built() { return gpu_backend_built("cuda"); }
inline int cuda_device_count() { return gpu_device_count("cuda"); }

// num_threads: the CPU backend's thread count (0: the affinity mask); cpu_numerics: what its
// linear kernels compute (ignored by other backends). Throws
// std::invalid_argument for an unknown name or a backend this build lacks, and
// std::runtime_error when the device cannot be opened.
std::unique_ptr<Backend> make_backend(std::string_view device, int num_threads,
                                      CpuNumerics cpu_numerics = CpuNumerics::kExact);

}  // namespace mm
