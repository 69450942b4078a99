#include "tests/integration/dbus/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace mm::testing {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(left.count(), 0));
}

}  // namespace

Child::Child(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + std::string(strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int error = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (error != 0) {
    close(pipe_fds[0]);
    throw std::runtime_error("cannot start " + argv[0] + ": " + strerror(error));
  }
  out_fd_ = pipe_fds[0];
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd_ < 0) throw std::runtime_error("pidfd_open: " + std::string(strerror(errno)));
}

Child::~Child() {
  if (!status_) {
    kill(pid_, SIGTERM);
    if (!wait(std::chrono::seconds(5))) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  close(pidfd_);
  if (out_fd_ >= 0) close(out_fd_);
}

bool Child::read_some(int timeout_ms) {
  if (out_fd_ < 0) return false;
  pollfd fd{out_fd_, POLLIN, 0};
  if (poll(&fd, 1, timeout_ms) <= 0) return true;
  char buffer[4096];
  const ssize_t n = read(out_fd_, buffer, sizeof buffer);
  if (n <= 0) {
    close(out_fd_);
    out_fd_ = -1;
    return false;
  }
  output_.append(buffer, static_cast<size_t>(n));
  return true;
}

bool Child::read_until(const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done(output_)) {
    if (Clock::now() >= deadline || !read_some(remaining_ms(deadline))) return done(output_);
  }
  return true;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!status_) {
    pollfd fds[2] = {{pidfd_, POLLIN, 0}, {out_fd_, POLLIN, 0}};
    const int num_fds = out_fd_ >= 0 ? 2 : 1;
    const int ready = poll(fds, static_cast<nfds_t>(num_fds), remaining_ms(deadline));
    if (ready < 0 && errno != EINTR) break;
    if (num_fds == 2 && (fds[1].revents & (POLLIN | POLLHUP))) read_some(0);
    if (fds[0].revents & POLLIN) {
      int status = 0;
      if (waitpid(pid_, &status, 0) == pid_)
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      while (read_some(0) && out_fd_ >= 0) {
        pollfd more{out_fd_, POLLIN, 0};
        if (poll(&more, 1, 0) <= 0) break;
      }
    }
    if (!status_ && Clock::now() >= deadline) break;
  }
  return status_;
}

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Child child(argv);
  RunResult result;
  result.exit_status = child.wait(timeout);
  result.output = child.output();
  return result;
}

PrivateBus::PrivateBus(const std::filesystem::path& dir, const std::string& policy_xml) {
  const std::filesystem::path config = dir / "bus.conf";
  std::ofstream out(config);
  out << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
         " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
         "<busconfig>\n  <type>session</type>\n"
      << "  <listen>unix:path=" << (dir / "bus").string() << "</listen>\n"
      << "  <auth>EXTERNAL</auth>\n";
  if (policy_xml.empty())
    out << "  <policy context=\"default\">\n"
           "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
           "    <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n";
  else
    out << policy_xml << "\n";
  out << "</busconfig>\n";
  out.close();
  daemon_.emplace(std::vector<std::string>{"dbus-daemon", "--nofork", "--nopidfile",
                                           "--config-file=" + config.string(), "--print-address=1"});
  // The daemon prints its address once it listens: that line is the readiness event.
  // (Its warnings share the pipe, so look for the line that starts with "unix:".)
  const auto address_line = [](const std::string& s) -> std::string {
    const size_t start = s.rfind("unix:", 0) == 0 ? 0 : s.find("\nunix:");
    if (start == std::string::npos) return {};
    const size_t begin = start == 0 ? 0 : start + 1;
    const size_t end = s.find('\n', begin);
    return end == std::string::npos ? std::string() : s.substr(begin, end - begin);
  };
  if (!daemon_->read_until([&](const std::string& s) { return !address_line(s).empty(); },
                           std::chrono::seconds(10)))
    throw std::runtime_error("dbus-daemon did not print its address: " + daemon_->output());
  address_ = address_line(daemon_->output());
}

}  // namespace mm::testing
