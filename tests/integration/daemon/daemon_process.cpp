#include "tests/integration/daemon/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mm::testing {

using Clock = std::chrono::steady_clock;

DaemonProcess::DaemonProcess(const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env, bool tiny_defaults) {
  char pattern[] = "/tmp/mmd-test-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  socket_path_ = dir_ + "/mmd.sock";
  notify_path_ = dir_ + "/notify";

  notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path_.c_str(), sizeof address.sun_path - 1);
  if (::bind(notify_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw std::runtime_error("cannot bind the test's NOTIFY_SOCKET " + notify_path_);

  std::vector<std::string> argv = {std::string(MMD_BINARY_DIR) + "/daemon/mmd",
                                   "--model",
                                   std::string(MMD_FIXTURE_DIR) + "/tiny-bf16",
                                   "--socket",
                                   socket_path_,
                                   "--kv-cache-dtype",
                                   "float32",
                                   "--kv-block-size",
                                   "4",
                                   "--num-kv-blocks",
                                   "1024",
                                   "--max-model-len",
                                   "4096",
                                   "--max-num-seqs",
                                   "32",
                                   "--max-num-batched-tokens",
                                   "256",
                                   "--threads",
                                   "1",
                                   "--port",
                                   "0"};
  if (!tiny_defaults) argv = {argv[0], "--socket", socket_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> environment = env;
  environment["NOTIFY_SOCKET"] = notify_path_;
  const std::string log_path = dir_ + "/mmd.log";

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(log_fd, STDERR_FILENO);
    for (const auto& [key, value] : environment) {
      std::string text = value;
      struct stat st {};
      if (text == kLogStream && ::fstat(STDERR_FILENO, &st) == 0)
        text = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
      ::setenv(key.c_str(), text.c_str(), 1);
    }
    std::vector<char*> raw;
    for (auto& a : argv)
      raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (notify_fd_ >= 0) ::close(notify_fd_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool DaemonProcess::wait_for_notification(const std::string& needle,
                                          std::chrono::milliseconds timeout) {
  if (find_notification(needle) >= 0) return true;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd entry{notify_fd_, POLLIN, 0};
    if (::poll(&entry, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(notify_fd_, buffer, sizeof buffer, 0);
    if (n <= 0) continue;
    notifications_.emplace_back(buffer, static_cast<size_t>(n));
    if (notifications_.back().find(needle) != std::string::npos) return true;
  }
}

int DaemonProcess::find_notification(const std::string& needle) const {
  for (size_t i = 0; i < notifications_.size(); ++i) {
    if (notifications_[i].find(needle) != std::string::npos) return static_cast<int>(i);
  }
  return -1;
}

int DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (Clock::now() >= deadline) return -1;
    // Exit is awaited by polling waitpid with a short pause: a pidfd would need Linux 5.3
    // headers we do not assume; the deadline bounds the wait.
    ::usleep(2000);
  }
}

std::string DaemonProcess::log() const {
  std::ifstream in(dir_ + "/mmd.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long utime = 0;
  long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

}  // namespace mm::testing
