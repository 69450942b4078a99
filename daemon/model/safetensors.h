// Reading safetensors files (quant-formats.md §6): the header is validated in full before any
// tensor is used, then the file is mapped read-only and tensors are zero-copy views into it.
// A SafetensorsFile is immutable after open(): its const methods are safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/common/numeric.h"

namespace mm {

// The safetensors reference reader refuses larger headers; so do we.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t data_begin = 0;  // relative to the start of the data section
  uint64_t data_end = 0;

  int64_t num_elements() const;
  uint64_t num_bytes() const { return data_end - data_begin; }
};

// A read-only view of one tensor's bytes (little-endian, row-major).
struct TensorView {
  const TensorInfo* info = nullptr;
  const std::byte* data = nullptr;

  DType dtype() const { return info->dtype; }
  const std::vector<int64_t>& shape() const { return info->shape; }
  size_t num_bytes() const { return info->num_bytes(); }
  // Element `index` converted to f32 (float, bf16, f16, fp8 and integer dtypes).
  float get_f32(int64_t index) const;
  // Element `index` of an integer dtype as int64.
  int64_t get_i64(int64_t index) const;
};

// The parsed, validated header of a safetensors file whose data section has `data_size` bytes.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in header order
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Validates a whole header (the JSON text after the 8-byte length). Throws LoadError naming
// `file`, the tensor, the field and the byte offset of the problem.
SafetensorsHeader parse_safetensors_header(std::string_view json, uint64_t data_size,
                                           const std::string& file);

// Validates a complete in-memory file image (length prefix, header, data size). Used by the
// fuzzer and by tests on corrupted files; open() applies the same checks.
SafetensorsHeader parse_safetensors_image(std::span<const uint8_t> image, const std::string& file);

class SafetensorsFile {
 public:
  // Reads and validates the header, then maps the file. Throws LoadError.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t header_size() const { return header_size_; }
  // File offset of the data section: 8 + header length.
  uint64_t data_offset() const { return 8 + header_size_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::vector<std::pair<std::string, std::string>>& metadata() const {
    return header_.metadata;
  }
  TensorView view(const TensorInfo& info) const;

 private:
  std::filesystem::path path_;
  uint64_t file_size_ = 0;
  uint64_t header_size_ = 0;
  SafetensorsHeader header_;
  const std::byte* mapping_ = nullptr;
  size_t mapping_size_ = 0;
};

}  // namespace mm
