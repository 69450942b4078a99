// mmd's log: one line per event on stderr. When stderr is the journal (systemd's
// JOURNAL_STREAM names it), each line starts with its syslog priority in the form journald
// reads ("<3>" error, "<4>" warning, "<5>" notice, "<6>" info, "<7>" debug), so
// `journalctl -p warning -u mmd` works without a logging library; on a terminal, a file or a
// pipe the lines are plain. Thread-safe (one write(2) per line).
#pragma once

#include <string_view>

namespace mm {

enum class LogPriority : int { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// True when fd 2 is the stream JOURNAL_STREAM ("DEVICE:INODE") names, as systemd detects
// it. log_line asks once, at its first line.
bool stderr_is_journal();
// Lines above `max` (less important) are dropped; the default keeps info and above.
void set_log_level(LogPriority max);
void log_line(LogPriority priority, std::string_view message);
inline void log_error(std::string_view m) {
  log_line(LogPriority::kError, m);
}
inline void log_warning(std::string_view m) {
  log_line(LogPriority::kWarning, m);
}
inline void log_notice(std::string_view m) {
  log_line(LogPriority::kNotice, m);
}
inline void log_info(std::string_view m) {
  log_line(LogPriority::kInfo, m);
}
inline void log_debug(std::string_view m) {
  log_line(LogPriority::kDebug, m);
}

}  // namespace mm
