// The one exception type of checkpoint loading. Its message always names the file and, where
// one is involved, the tensor, the field and the byte offset, so a user can find the problem.
#pragma once

#include <stdexcept>
#include <string>

namespace mm {

class LoadError : public std::runtime_error {
 public:
  explicit LoadError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace mm
