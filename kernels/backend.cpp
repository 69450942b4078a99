#include "kernels/backend.h"

#include <new>

namespace mm {

std::unique_ptr<Buffer> Backend::upload(const void* src, size_t num_bytes) {
  std::unique_ptr<Buffer> buffer = allocate(num_bytes);
  if (num_bytes > 0) copy_to_backend(buffer->data(), src, num_bytes);
  return buffer;
}

std::string_view kv_dtype_name(KvDType dtype) {
  switch (dtype) {
    case KvDType::kF32:
      return "f32";
    case KvDType::kBf16:
      return "bf16";
    case KvDType::kFp8E4M3:
      return "fp8";
  }
  return "?";
}

int kv_dtype_bytes(KvDType dtype) {
  switch (dtype) {
    case KvDType::kF32:
      return 4;
    case KvDType::kBf16:
      return 2;
    case KvDType::kFp8E4M3:
      return 1;
  }
  return 0;
}

}  // namespace mm
