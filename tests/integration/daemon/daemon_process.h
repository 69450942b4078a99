// Starts the real mmd binary for a test: a private temporary folder with the client socket
// and a NOTIFY_SOCKET the test owns (so readiness is an event, READY=1, not a sleep), stderr
// to a log file. The destructor kills the daemon if it is still running and removes the
// folder, whatever the test's outcome.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace mm::testing {

class DaemonProcess {
 public:
  // An `env` value for JOURNAL_STREAM: the child sets it to its log file's "DEVICE:INODE",
  // so mmd takes its stderr for the journal (as under systemd).
  static constexpr const char* kLogStream = "<the log file>";

  // `args` are added to the tiny-model defaults (later flags win). Without `tiny_defaults`
  // mmd gets only --socket and `args` (a test of mmd's own defaults).
  explicit DaemonProcess(const std::vector<std::string>& args = {},
                         const std::map<std::string, std::string>& env = {},
                         bool tiny_defaults = true);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Waits for a notification containing `needle` (each datagram is kept). True when seen.
  bool wait_for_notification(const std::string& needle, std::chrono::milliseconds timeout);
  const std::vector<std::string>& notifications() const { return notifications_; }
  // Index of the first notification containing `needle`, or -1.
  int find_notification(const std::string& needle) const;

  // Waits for the process to exit; its exit code, or -1 on timeout / by signal.
  int wait_exit(std::chrono::milliseconds timeout);
  void send_signal(int signum) const { ::kill(pid_, signum); }

  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& dir() const { return dir_; }
  std::string log() const;

 private:
  std::string dir_;
  std::string socket_path_;
  std::string notify_path_;
  int notify_fd_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::vector<std::string> notifications_;
};

// The daemon's CPU time so far (user + system), from /proc/PID/stat, in clock ticks.
long cpu_ticks(pid_t pid);

}  // namespace mm::testing
