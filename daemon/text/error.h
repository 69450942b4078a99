// The one exception type mm_text throws; its message names what is wrong and where (file, line and
// column, byte offset, field). Thread-safe: a value type.
#pragma once

#include <stdexcept>
#include <string>

namespace mm::text {

class TextError : public std::runtime_error {
 public:
  explicit TextError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace mm::text
