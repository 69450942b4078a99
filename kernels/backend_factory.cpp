#include "kernels/backend_factory.h"

#include <charconv>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_backend.h"
#ifdef MMD_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace mm {

bool cuda_backend_built() {
#ifdef MMD_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef MMD_HAVE_CUDA
  return CudaBackend::device_count();
#else
  return 0;
#endif
}

std::unique_ptr<Backend> make_backend(std::string_view device, int num_threads,
                                      CpuNumerics cpu_numerics) {
  if (device == "cpu")
    return std::make_unique<CpuBackend>(num_threads, detected_cpu_isa(), cpu_numerics);
  if (device == "cuda" || device.starts_with("cuda:")) {
    int index = 0;
    if (device.size() > 5) {
      const std::string_view digits = device.substr(5);
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (error != std::errc() || end != digits.data() + digits.size() || index < 0) {
        throw std::invalid_argument("device '" + std::string(device) +
                                    "': expected cuda:N with N a device index");
      }
    }
#ifdef MMD_HAVE_CUDA
    const int count = CudaBackend::device_count();
    if (index >= count) {
      throw std::runtime_error("device '" + std::string(device) + "': this machine has " +
                               std::to_string(count) + " CUDA device(s)");
    }
    return std::make_unique<CudaBackend>(index);
#else
    throw std::invalid_argument("device '" + std::string(device) +
                                "': this mmd was built without the CUDA backend (cuda preset)");
#endif
  }
  throw std::invalid_argument("device '" + std::string(device) + "': expected cpu, cuda or cuda:N");
}

}  // namespace mm
