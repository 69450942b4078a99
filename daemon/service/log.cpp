#include "daemon/service/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace mm {

namespace {
std::atomic<int> max_priority{static_cast<int>(LogPriority::kInfo)};

// Decided once, at the first line: stderr does not change under a running daemon.
bool prefixes_wanted() {
  static const bool wanted = stderr_is_journal();
  return wanted;
}
}  // namespace

bool stderr_is_journal() {
  // As sd_journal_stream_fd(3) documents: systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the
  // stream it connected stdout/stderr to. A matching fd 2 is that stream; anything else (a
  // terminal, a file, a pipe to another program, or a child that inherited the variable with
  // its stderr redirected) gets plain lines.
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  uintmax_t device = 0;
  uintmax_t inode = 0;
  char tail = 0;
  if (std::sscanf(stream, "%" SCNuMAX ":%" SCNuMAX "%c", &device, &inode, &tail) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<uintmax_t>(st.st_dev) == device && static_cast<uintmax_t>(st.st_ino) == inode;
}

void set_log_level(LogPriority max) {
  max_priority = static_cast<int>(max);
}

void log_line(LogPriority priority, std::string_view message) {
  if (static_cast<int>(priority) > max_priority.load()) return;
  const std::string prefix =
      prefixes_wanted() ? "<" + std::to_string(static_cast<int>(priority)) + ">" : std::string();
  std::string line = prefix;
  // A message with line breaks stays one journal entry per line, each with its priority.
  for (char c : message) {
    line += c;
    if (c == '\n') line += prefix;
  }
  line += '\n';
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mm
