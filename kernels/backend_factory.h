// Builds the backend a device name asks for: "cpu", "cuda" (device 0) or "cuda:N". Used by the
// model runner's loader; the names are what `mmd --device` takes.
#pragma once

#include <memory>
#include <string_view>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace mm {

// True when this build has the CUDA backend (the cuda preset).
bool cuda_backend_built();
// CUDA devices this process can use (0 without the CUDA backend, a driver or a GPU).
int cuda_device_count();

// num_threads: the CPU backend's thread count (0: the affinity mask); cpu_numerics: what its
// linear kernels compute (ignored by other backends). Throws
// std::invalid_argument for an unknown name or a backend this build lacks, and
// std::runtime_error when the device cannot be opened.
std::unique_ptr<Backend> make_backend(std::string_view device, int num_threads,
                                      CpuNumerics cpu_numerics = CpuNumerics::kExact);

}  // namespace mm
