// Test helpers: a child process with its output captured, waited on with deadlines (pidfd
// and poll, never sleeps), and a private dbus-daemon built on it. Owned by the test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mm::testing {

class Child {
 public:
  // Starts argv[0] (looked up in PATH) with stdin from /dev/null and stdout and stderr
  // into one pipe. Throws std::runtime_error if it cannot start.
  explicit Child(const std::vector<std::string>& argv);
  ~Child();  // SIGTERM, then SIGKILL if it has not exited within 5 s; always reaped
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads output until done(output()) holds or the timeout passes; returns done's value.
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::milliseconds timeout);
  // Waits for the exit (draining output); the exit status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  const std::string& output() const { return output_; }
  pid_t pid() const { return pid_; }

 private:
  bool read_some(int timeout_ms);  // false when the pipe is closed
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1;
  std::optional<int> status_;
  std::string output_;
};

struct RunResult {
  std::optional<int> exit_status;  // nullopt: killed at the timeout
  std::string output;
};
RunResult run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A dbus-daemon on a socket in `dir`, with the config written there. `policy_xml` goes
// inside <busconfig>; the default lets the test's user own and call anything.
class PrivateBus {
 public:
  explicit PrivateBus(const std::filesystem::path& dir, const std::string& policy_xml = "");
  const std::string& address() const { return address_; }

 private:
  std::optional<Child> daemon_;
  std::string address_;
};

}  // namespace mm::testing
