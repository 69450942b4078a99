// Number formatting for terminal output.
#pragma once

#include <cstdint>
#include <string>

namespace mm {

// 1536 → "1.50 KiB"; 3 → "3 B".
std::string format_bytes(uint64_t bytes);
// 228700000000 → "228.70 B"; 1100000 → "1.10 M"; 512 → "512".
std::string format_count(int64_t count);

}  // namespace mm
