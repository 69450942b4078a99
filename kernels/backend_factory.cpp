#include "kernels/backend_factory.h"

#include <charconv>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_backend.h"
#if defined(MMD_HAVE_CUDA) || defined(MMD_HAVE_HIP)
#include "kernels/cuda/gpu_backend.h"
#endif

namespace mm {
namespace {

// The platform this build's GPU backend was compiled for, or empty.
constexpr std::string_view kBuiltGpu =
#if defined(MMD_HAVE_CUDA)
    "cuda";
#elif defined(MMD_HAVE_HIP)
    "hip";
#else
    "";
#endif

}  // namespace

std::string_view gpu_platform_of(std::string_view device) {
  for (std::string_view platform : {std::string_view("cuda"), std::string_view("hip")}) {
    if (device == platform ||
        (device.starts_with(platform) && device.size() > platform.size() &&
         device[platform.size()] == ':'))
      return platform;
  }
  return {};
}

bool gpu_backend_built(std::string_view platform) {
  return !platform.empty() && platform == kBuiltGpu;
}

int gpu_device_count(std::string_view platform) {
  if (!gpu_backend_built(platform)) return 0;
#if defined(MMD_HAVE_CUDA) || defined(MMD_HAVE_HIP)
  return GpuBackend::device_count();
#else
  return 0;
#endif
}

std::unique_ptr<Backend> make_backend(std::string_view device, int num_threads,
                                      CpuNumerics cpu_numerics) {
  if (device == "cpu")
    return std::make_unique<CpuBackend>(num_threads, detected_cpu_isa(), cpu_numerics);
  const std::string_view platform = gpu_platform_of(device);
  if (!platform.empty()) {
    int index = 0;
    if (device.size() > platform.size()) {
      const std::string_view digits = device.substr(platform.size() + 1);
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
          index < 0) {
        throw std::invalid_argument("device '" + std::string(device) + "': expected " +
                                    std::string(platform) + ":N with N a device index");
      }
    }
    if (!gpu_backend_built(platform)) {
      throw std::invalid_argument("device '" + std::string(device) + "': this mmd was built without the " +
                                  std::string(platform == "cuda" ? "CUDA" : "HIP") + " backend (" +
                                  std::string(platform) + " preset)");
    }
#if defined(MMD_HAVE_CUDA) || defined(MMD_HAVE_HIP)
    const int count = GpuBackend::device_count();
    if (index >= count) {
      throw std::runtime_error("device '" + std::string(device) + "': this machine has " +
                               std::to_string(count) + " " + std::string(platform) + " device(s)");
    }
    return std::make_unique<GpuBackend>(index);
#endif
  }
  throw std::invalid_argument("device '" + std::string(device) +
                              "': expected cpu, cuda, cuda:N, hip or hip:N");
}

}  // namespace mm
