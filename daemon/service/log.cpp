#include "daemon/service/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace mm {

namespace {
std::atomic<int> max_priority{static_cast<int>(LogPriority::kInfo)};
}

void set_log_level(LogPriority max) {
  max_priority = static_cast<int>(max);
}

void log_line(LogPriority priority, std::string_view message) {
  if (static_cast<int>(priority) > max_priority.load()) return;
  std::string line = "<" + std::to_string(static_cast<int>(priority)) + ">";
  // A message with line breaks stays one journal entry per line, each with its priority.
  for (char c : message) {
    line += c;
    if (c == '\n') line += "<" + std::to_string(static_cast<int>(priority)) + ">";
  }
  line += '\n';
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mm
