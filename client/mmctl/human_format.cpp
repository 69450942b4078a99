#include "client/mmctl/human_format.h"

#include <array>
#include <cstdio>

namespace mm {

std::string format_bytes(uint64_t bytes) {
  constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.2f %s", value, kUnits[unit]);
  return buffer;
}

std::string format_count(int64_t count) {
  constexpr std::array<std::pair<double, const char*>, 3> kScales = {
      {{1e9, "B"}, {1e6, "M"}, {1e3, "K"}}};
  for (const auto& [scale, suffix] : kScales) {
    if (static_cast<double>(count) >= scale) {
      char buffer[32];
      std::snprintf(buffer, sizeof(buffer), "%.2f %s", static_cast<double>(count) / scale, suffix);
      return buffer;
    }
  }
  return std::to_string(count);
}

}  // namespace mm
