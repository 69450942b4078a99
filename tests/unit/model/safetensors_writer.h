// Test-only: writes safetensors files byte by byte, including deliberately broken ones.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mm::testing {

struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// The JSON header for `tensors` laid out back to back (offsets computed from the byte sizes).
inline std::string header_json(const std::vector<RawTensor>& tensors) {
  std::string json = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t offset = 0;
  for (const RawTensor& t : tensors) {
    json += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      json += (i ? "," : "") + std::to_string(t.shape[i]);
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  return json + "}";
}

// A file image: 8-byte little-endian header length, header, data.
inline std::vector<uint8_t> file_image(const std::string& header,
                                       const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  const uint64_t size = header.size();
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<uint8_t>(size >> (8 * i)));
  for (char c : header)
    out.push_back(static_cast<uint8_t>(c));
  for (uint8_t byte : data)
    out.push_back(byte);
  return out;
}

inline std::vector<uint8_t> file_image(const std::vector<RawTensor>& tensors) {
  std::vector<uint8_t> data;
  for (const RawTensor& t : tensors)
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  return file_image(header_json(tensors), data);
}

inline void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh empty folder under the test's temporary directory.
inline std::filesystem::path temp_folder(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() /
              ("mmd-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

}  // namespace mm::testing
