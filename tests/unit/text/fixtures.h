// Helpers to read tests/fixtures/text files.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace mm::text::testing {

inline std::string fixture_path(const std::string& name) {
  return std::string(MMD_FIXTURE_DIR) + "/text/" + name;
}

inline std::string read_fixture(const std::string& name) {
  std::ifstream in(fixture_path(name), std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace mm::text::testing
