#include "daemon/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "daemon/model/checkpoint_file.h"
#include "daemon/model/json_reader.h"
#include "daemon/model/load_error.h"

namespace mm {
namespace {

std::string in_quotes(std::string_view text) {
  return "'" + std::string(text) + "'";
}

// Reads a shape or offsets list of non-negative integers.
std::vector<uint64_t> read_unsigned_list(simdjson::dom::element value, const std::string& where) {
  simdjson::dom::array array;
  if (value.get(array)) throw LoadError(where + " must be a list of integers");
  std::vector<uint64_t> out;
  for (simdjson::dom::element item : array) {
    uint64_t number;
    if (item.get(number)) {
      throw LoadError(where + " must hold non-negative integers, found " +
                      std::string(json_type_name(item.type())));
    }
    out.push_back(number);
  }
  return out;
}

TensorInfo read_tensor_entry(std::string_view name, simdjson::dom::element entry,
                             uint64_t data_size, const std::string& file) {
  const std::string where = file + ": tensor " + in_quotes(name);
  simdjson::dom::object object;
  if (entry.get(object)) throw LoadError(where + ": header entry must be an object");

  TensorInfo info;
  info.name = std::string(name);

  simdjson::dom::element dtype_value;
  std::string_view dtype_text;
  if (object.at_key("dtype").get(dtype_value) || dtype_value.get(dtype_text)) {
    throw LoadError(where + ": field 'dtype' missing or not a string");
  }
  auto dtype = dtype_from_name(dtype_text);
  if (!dtype) throw LoadError(where + ": unknown dtype " + in_quotes(dtype_text));
  info.dtype = *dtype;

  simdjson::dom::element shape_value;
  if (object.at_key("shape").get(shape_value)) throw LoadError(where + ": field 'shape' missing");
  // Element counts are multiplied with overflow checks: a hostile header must not wrap around.
  unsigned __int128 num_elements = 1;
  for (uint64_t dim : read_unsigned_list(shape_value, where + ": field 'shape'")) {
    if (dim > static_cast<uint64_t>(INT64_MAX)) throw LoadError(where + ": dimension too large");
    info.shape.push_back(static_cast<int64_t>(dim));
    num_elements *= dim;
    if (num_elements > (static_cast<unsigned __int128>(1) << 64)) {
      throw LoadError(where + ": shape has too many elements");
    }
  }

  simdjson::dom::element offsets_value;
  if (object.at_key("data_offsets").get(offsets_value)) {
    throw LoadError(where + ": field 'data_offsets' missing");
  }
  auto offsets = read_unsigned_list(offsets_value, where + ": field 'data_offsets'");
  if (offsets.size() != 2) {
    throw LoadError(where + ": field 'data_offsets' must hold [begin, end]");
  }
  info.data_begin = offsets[0];
  info.data_end = offsets[1];
  if (info.data_begin > info.data_end) {
    throw LoadError(where + ": data_offsets begin " + std::to_string(info.data_begin) +
                    " is after end " + std::to_string(info.data_end));
  }
  if (info.data_end > data_size) {
    throw LoadError(where + ": data_offsets end " + std::to_string(info.data_end) +
                    " is past the data section (" + std::to_string(data_size) + " bytes)");
  }
  const unsigned __int128 num_bits = num_elements * static_cast<unsigned>(dtype_bits(info.dtype));
  if (num_bits % 8 != 0) {
    throw LoadError(where + ": " + std::to_string(static_cast<uint64_t>(num_elements)) +
                    " elements of " + std::string(dtype_name(info.dtype)) +
                    " are not a whole number of bytes");
  }
  if (num_bits / 8 != info.num_bytes()) {
    throw LoadError(where + ": shape and dtype " + std::string(dtype_name(info.dtype)) + " need " +
                    std::to_string(static_cast<uint64_t>(num_bits / 8)) +
                    " bytes but data_offsets [" + std::to_string(info.data_begin) + ", " +
                    std::to_string(info.data_end) + ") hold " + std::to_string(info.num_bytes()));
  }
  return info;
}

}  // namespace

int64_t TensorInfo::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

SafetensorsHeader parse_safetensors_header(std::string_view json, uint64_t data_size,
                                           const std::string& file) {
  // The format requires the header to open with '{' (padding may only follow it).
  if (json.empty() || json.front() != '{') {
    throw LoadError(file + ": header at byte offset 8 does not start with '{'");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root = parse_json_document(parser, json, file + ": header");
  simdjson::dom::object object;
  if (root.get(object)) throw LoadError(file + ": header is not a JSON object");

  SafetensorsHeader header;
  std::unordered_set<std::string_view> seen;
  for (auto [key, value] : object) {
    if (!seen.insert(key).second) {
      throw LoadError(file + ": tensor " + in_quotes(key) + " appears twice in the header");
    }
    if (key == "__metadata__") {
      simdjson::dom::object metadata;
      if (value.get(metadata)) throw LoadError(file + ": __metadata__ must be an object");
      for (auto [meta_key, meta_value] : metadata) {
        std::string_view text;
        if (meta_value.get(text)) {
          throw LoadError(file + ": __metadata__." + std::string(meta_key) + " must be a string");
        }
        header.metadata.emplace_back(meta_key, text);
      }
      continue;
    }
    header.tensors.push_back(read_tensor_entry(key, value, data_size, file));
  }

  // Sorted by offset, the tensors must tile the data section exactly: no overlap, no hole.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(header.tensors.size());
  for (const TensorInfo& info : header.tensors)
    by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->data_begin != b->data_begin ? a->data_begin < b->data_begin
                                          : a->data_end < b->data_end;
  });
  uint64_t cursor = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* info : by_offset) {
    if (info->data_begin < cursor) {
      throw LoadError(file + ": tensor " + in_quotes(info->name) + " at data bytes [" +
                      std::to_string(info->data_begin) + ", " + std::to_string(info->data_end) +
                      ") overlaps tensor " + in_quotes(previous->name) + " ending at " +
                      std::to_string(cursor));
    }
    if (info->data_begin > cursor) {
      throw LoadError(file + ": data bytes [" + std::to_string(cursor) + ", " +
                      std::to_string(info->data_begin) + ") before tensor " +
                      in_quotes(info->name) + " belong to no tensor");
    }
    cursor = info->data_end;
    previous = info;
  }
  if (cursor != data_size) {
    throw LoadError(file + ": the data section has " + std::to_string(data_size) +
                    " bytes but the tensors cover only " + std::to_string(cursor));
  }
  return header;
}

namespace {

uint64_t read_le64(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i)
    value = (value << 8) | bytes[i];
  return value;
}

void check_header_length(uint64_t header_size, uint64_t file_size, const std::string& file) {
  if (header_size > kMaxSafetensorsHeaderBytes) {
    throw LoadError(file + ": header length " + std::to_string(header_size) +
                    " (bytes 0-7) exceeds the limit of " +
                    std::to_string(kMaxSafetensorsHeaderBytes));
  }
  if (header_size > file_size - 8) {
    throw LoadError(file + ": header length " + std::to_string(header_size) +
                    " (bytes 0-7) runs past the end of the file (" + std::to_string(file_size) +
                    " bytes); the file is truncated");
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_image(std::span<const uint8_t> image, const std::string& file) {
  if (image.size() < 8) {
    throw LoadError(file + ": " + std::to_string(image.size()) +
                    " bytes is too short for a safetensors file (needs an 8-byte header length)");
  }
  const uint64_t header_size = read_le64(image.data());
  check_header_length(header_size, image.size(), file);
  std::string_view json(reinterpret_cast<const char*>(image.data() + 8), header_size);
  return parse_safetensors_header(json, image.size() - 8 - header_size, file);
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  // Checked to be a regular file before it is opened: a FIFO would block open() forever.
  const int fd = open_regular_file(path, &file_size_);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  if (file_size_ < 8) {
    throw LoadError(file + ": " + std::to_string(file_size_) +
                    " bytes is too short for a safetensors file");
  }
  uint8_t prefix[8];
  if (::pread(fd, prefix, 8, 0) != 8) throw LoadError(file + ": cannot read the header length");
  header_size_ = read_le64(prefix);
  check_header_length(header_size_, file_size_, file);

  // The header is read with pread so that validation never touches the mapping.
  std::string json(header_size_, '\0');
  size_t done = 0;
  while (done < header_size_) {
    const ssize_t got =
        ::pread(fd, json.data() + done, header_size_ - done, static_cast<off_t>(8 + done));
    if (got <= 0) throw LoadError(file + ": cannot read the header");
    done += static_cast<size_t>(got);
  }
  header_ = parse_safetensors_header(json, file_size_ - data_offset(), file);

  mapping_size_ = file_size_;
  void* mapping = ::mmap(nullptr, mapping_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapping == MAP_FAILED) throw LoadError(file + ": mmap failed (" + std::strerror(errno) + ")");
  mapping_ = static_cast<const std::byte*>(mapping);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      file_size_(other.file_size_),
      header_size_(other.header_size_),
      header_(std::move(other.header_)),
      mapping_(other.mapping_),
      mapping_size_(other.mapping_size_) {
  other.mapping_ = nullptr;
  other.mapping_size_ = 0;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(const_cast<std::byte*>(mapping_), mapping_size_);
}

TensorView SafetensorsFile::view(const TensorInfo& info) const {
  return TensorView{&info, mapping_ + data_offset() + info.data_begin};
}

namespace {

template <typename T>
T load(const std::byte* data, int64_t index) {
  T value;
  std::memcpy(&value, data + index * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

}  // namespace

float TensorView::get_f32(int64_t index) const {
  switch (dtype()) {
    case DType::kF32:
      return load<float>(data, index);
    case DType::kF64:
      return static_cast<float>(load<double>(data, index));
    case DType::kBF16:
      return bf16_to_f32(load<uint16_t>(data, index));
    case DType::kF16:
      return f16_to_f32(load<uint16_t>(data, index));
    case DType::kF8E4M3:
      return e4m3fn_to_f32(load<uint8_t>(data, index));
    case DType::kF8E5M2:
      return e5m2_to_f32(load<uint8_t>(data, index));
    case DType::kBool:
    case DType::kU8:
    case DType::kI8:
    case DType::kU16:
    case DType::kI16:
    case DType::kU32:
    case DType::kI32:
    case DType::kU64:
    case DType::kI64:
      return static_cast<float>(get_i64(index));
    default:
      return std::numeric_limits<float>::quiet_NaN();
  }
}

int64_t TensorView::get_i64(int64_t index) const {
  switch (dtype()) {
    case DType::kBool:
    case DType::kU8:
      return load<uint8_t>(data, index);
    case DType::kI8:
      return load<int8_t>(data, index);
    case DType::kU16:
      return load<uint16_t>(data, index);
    case DType::kI16:
      return load<int16_t>(data, index);
    case DType::kU32:
      return load<uint32_t>(data, index);
    case DType::kI32:
      return load<int32_t>(data, index);
    case DType::kU64:
      return static_cast<int64_t>(load<uint64_t>(data, index));
    case DType::kI64:
      return load<int64_t>(data, index);
    case DType::kF32:
    case DType::kF64:
    case DType::kBF16:
    case DType::kF16:
    case DType::kF8E4M3:
    case DType::kF8E5M2:
      return static_cast<int64_t>(get_f32(index));
    default:
      return 0;
  }
}

}  // namespace mm
