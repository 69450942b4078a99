// Fuzzes the safetensors validator with whole file images: every input must either parse or
// raise LoadError, never crash, hang or read out of bounds.
#include <cstdint>
#include <span>

#include "daemon/model/load_error.h"
#include "daemon/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mm::SafetensorsHeader header =
        mm::parse_safetensors_image(std::span<const uint8_t>(data, size), "fuzz.safetensors");
    // A header that passed must describe only bytes inside the image.
    const uint64_t data_size = size - 8;
    for (const mm::TensorInfo& info : header.tensors) {
      if (info.data_end > data_size) __builtin_trap();
    }
  } catch (const mm::LoadError&) {
  }
  return 0;
}
