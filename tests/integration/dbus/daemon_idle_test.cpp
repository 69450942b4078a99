// The real mmd with every frontend on (shared memory, D-Bus on a private dbus-daemon, HTTP):
// an idle daemon's threads do not wake at all (counted in context switches, from the
// outside), and idle sleep and wake are logged with their cause and duration.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon/daemon_process.h"
#include "tests/integration/dbus/engine_client.h"
#include "tests/integration/dbus/subprocess.h"

namespace mm {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::EngineClient;
using testing::PrivateBus;

constexpr auto kDeadline = 60s;

struct ThreadSwitches {
  std::string name;   // /proc/.../comm
  std::string wchan;  // where it blocks
  long count = 0;     // voluntary + nonvoluntary context switches
};

// Every thread of `pid`, by id: a thread that wakes up (a timer, a poll timeout) switches.
std::map<pid_t, ThreadSwitches> context_switches(pid_t pid) {
  std::map<pid_t, ThreadSwitches> out;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    ThreadSwitches entry;
    std::ifstream(task.path() / "comm") >> entry.name;
    std::ifstream(task.path() / "wchan") >> entry.wchan;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      std::istringstream fields(line);
      std::string key;
      long value = 0;
      if (fields >> key >> value &&
          (key == "voluntary_ctxt_switches:" || key == "nonvoluntary_ctxt_switches:"))
        entry.count += value;
    }
    out[static_cast<pid_t>(std::stol(task.path().filename().string()))] = entry;
  }
  return out;
}

// Wake-ups of `pid`'s threads over `interval`, and a line per thread for the failure message.
// `idle` spends the interval (by default a plain sleep: the idle time under test, not a
// readiness wait).
long wakeups_over(pid_t pid, std::chrono::milliseconds interval, std::string& report,
                  const std::function<void()>& idle = {}) {
  const auto before = context_switches(pid);
  if (idle)
    idle();
  else
    std::this_thread::sleep_for(interval);
  const auto after = context_switches(pid);
  long total = 0;
  for (const auto& [tid, now] : after) {
    const auto was = before.find(tid);
    const long delta = now.count - (was == before.end() ? 0 : was->second.count);
    total += delta;
    report += "\n  thread " + std::to_string(tid) + " (" + now.name + ", in " + now.wchan +
              "): " + std::to_string(delta);
  }
  return total;
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("cannot find a free port");
  ::close(fd);
  return ntohs(address.sin_port);
}

// One HTTP/1.1 GET with Connection: close; the whole response ("" when it cannot connect).
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
        response.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

std::vector<int32_t> prompt_of(int length) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>(3 + (i * 11) % 250));
  return out;
}

std::map<std::string, sdbus::Variant> greedy(int max_tokens) {
  return {{"max_tokens", sdbus::Variant(int32_t{max_tokens})},
          {"temperature", sdbus::Variant(0.0)},
          {"ignore_eos", sdbus::Variant(true)}};
}

class DaemonIdleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v dbus-daemon >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "dbus-daemon is not installed (Debian package dbus-daemon)";
    char dir_template[] = "/tmp/mmd-idle-test.XXXXXX";
    dir_ = mkdtemp(dir_template);
    bus_ = std::make_unique<PrivateBus>(dir_);
  }
  void TearDown() override {
    bus_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A daemon serving shm, D-Bus and HTTP (on `port`), ready, with one request served on
  // each so that every lazily started thread exists.
  std::unique_ptr<DaemonProcess> start_used_daemon(int port,
                                                   std::map<std::string, std::string> env = {}) {
    auto daemon = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--bus", bus_->address(), "--port", std::to_string(port)}, env);
    EXPECT_TRUE(daemon->wait_for_notification("READY=1", kDeadline)) << daemon->log();
    EngineClient client(bus_->address());
    const auto [tokens, text, reason] = client.Complete(prompt_of(5), greedy(3));
    EXPECT_EQ(tokens.size(), 3u);
    EXPECT_NE(http_get(port, "/health").find("200 OK"), std::string::npos) << daemon->log();
    EXPECT_NE(http_get(port, "/metrics").find("mmd_engine_ready"), std::string::npos);
    const auto status = testing::run({std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl", "status",
                                      "--socket", daemon->socket_path()});
    EXPECT_EQ(status.exit_status, 0) << status.output;
    return daemon;
  }

  std::string dir_;
  std::unique_ptr<PrivateBus> bus_;
};

// Idle means idle: no refresh timer, no drain poll, no thread waiting for "ready". What remains
// is blocked for good: the loop in epoll_wait, the engine on its condition variable, the D-Bus
// thread in poll(2) without a timeout, libuv's worker pool on its condition.
TEST_F(DaemonIdleTest, IdleDaemonWithEveryFrontendWakesNoThread) {
  const int port = free_tcp_port();
  auto daemon = start_used_daemon(port);
  // A D-Bus client stays connected (with its signal matches) while the daemon idles.
  EngineClient watcher(bus_->address());
  EXPECT_EQ(watcher.State(), "ready");
  std::this_thread::sleep_for(300ms);  // the CPU runner's workers spin briefly, then block
  std::string report;
  const long woken = wakeups_over(daemon->pid(), 3s, report);
  EXPECT_EQ(woken, 0) << "context switches of the idle daemon's threads over 3 s:" << report;
  EXPECT_GE(context_switches(daemon->pid()).size(), 3u);  // loop, engine, D-Bus at least
  // Still serving: nothing was starved.
  EXPECT_NE(http_get(port, "/health").find("200 OK"), std::string::npos);
  daemon->send_signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(30s), 0) << daemon->log();
}

// The probe sees wake-ups in another process's threads: systemd's watchdog (asked for with
// WATCHDOG_USEC) is the one timer an idle daemon keeps, every half period.
TEST_F(DaemonIdleTest, TheWatchdogIsTheOnlyTimerAndTheProbeSeesIt) {
  const int port = free_tcp_port();
  auto daemon = start_used_daemon(port, {{"WATCHDOG_USEC", "100000"}});
  std::this_thread::sleep_for(300ms);
  std::string report;
  const size_t pings_before = daemon->notifications().size();
  // The test reads the pings as they come (as systemd does) while it counts.
  const long woken = wakeups_over(daemon->pid(), 1s, report, [&] {
    EXPECT_FALSE(daemon->wait_for_notification("never sent", 1s));
  });
  const auto pings = static_cast<long>(daemon->notifications().size() - pings_before);
  // 50 ms pings: about 20 wake-ups of the loop thread in a second, each one a WATCHDOG=1
  // (the count also holds those queued before the interval).
  EXPECT_GE(pings, 10) << report;
  EXPECT_GE(woken, 10) << report;
  EXPECT_LE(woken, 60) << report;
  daemon->send_signal(SIGTERM);
  EXPECT_EQ(daemon->wait_exit(30s), 0) << daemon->log();
}

// sd_notify never blocks: a NOTIFY_SOCKET whose reader stopped reading (its queue full of
// watchdog pings) used to stall the loop thread in sendto, so HTTP and SIGTERM went unanswered.
TEST_F(DaemonIdleTest, ANotifyReaderThatStopsReadingDoesNotStallTheDaemon) {
  const int port = free_tcp_port();
  DaemonProcess daemon({"--bus", bus_->address(), "--port", std::to_string(port)},
                       {{"WATCHDOG_USEC", "2000"}});  // a ping every millisecond
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kDeadline)) << daemon.log();
  std::this_thread::sleep_for(500ms);  // nobody reads: the socket's queue fills
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_NE(http_get(port, "/health").find("200 OK"), std::string::npos) << daemon.log();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(30s), 0) << daemon.log();
}

// Waits until the daemon's log after byte `from` matches `pattern` (the log is a file: read
// again until the deadline). The match and its groups; empty on timeout. `log` is the last read.
std::vector<std::string> wait_for_log(const DaemonProcess& daemon, const std::string& pattern,
                                      std::string& log, size_t from = 0) {
  const std::regex re(pattern);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    log = daemon.log();
    const std::string tail = log.size() > from ? log.substr(from) : std::string();
    std::smatch match;
    if (std::regex_search(tail, match, re)) {
      std::vector<std::string> out;
      for (const auto& group : match)
        out.push_back(group.str());
      return out;
    }
    if (std::chrono::steady_clock::now() > deadline) return {};
    std::this_thread::sleep_for(20ms);
  }
}

TEST_F(DaemonIdleTest, SleepAndWakeAreLoggedWithCauseAndDuration) {
  DaemonProcess daemon({"--bus", bus_->address(), "--idle-sleep-seconds", "2"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kDeadline)) << daemon.log();
  EngineClient client(bus_->address());
  std::string log;

  // The idle timer, after two seconds without work.
  auto m = wait_for_log(
      daemon,
      R"(asleep at level 1: the idle timer after ([0-9.]+) s idle \(unloading took ([0-9.]+) s\))",
      log);
  ASSERT_FALSE(m.empty()) << log;
  EXPECT_GE(std::stod(m[1]), 1.9) << log;
  size_t seen = log.find(m[0]) + m[0].size();

  // A request wakes it: the request's id is the cause, the time asleep the duration.
  const uint64_t id = client.StartCompletion(prompt_of(5), greedy(2));
  ASSERT_TRUE(client.wait_finished(id, kDeadline));
  const std::string request = "request " + std::to_string(id) + " arrived";
  m = wait_for_log(daemon, "waking: " + request + R"( after ([0-9.]+) s asleep)", log, seen);
  ASSERT_FALSE(m.empty()) << log;
  m = wait_for_log(daemon, "awake: " + request + R"( \(loading took [0-9.]+ s\))", log, seen);
  ASSERT_FALSE(m.empty()) << log;
  seen = log.size();

  // A D-Bus client asks (level 2), and names itself in the log.
  client.Sleep(2);
  m = wait_for_log(
      daemon,
      R"(asleep at level 2: a Sleep call over D-Bus from :[0-9.]+ \(uid [0-9]+\) after ([0-9.]+) s idle)",
      log, seen);
  ASSERT_FALSE(m.empty()) << log;
  EXPECT_LT(std::stod(m[1]), 1.9) << "the request ran just before:\n" << log;
  seen = log.size();
  client.Wake();
  m = wait_for_log(daemon,
                   R"(waking: a Wake call over D-Bus from :[0-9.]+ .* after [0-9.]+ s asleep)", log,
                   seen);
  ASSERT_FALSE(m.empty()) << log;
  m = wait_for_log(daemon, R"(awake: a Wake call over D-Bus from)", log, seen);
  ASSERT_FALSE(m.empty()) << log;
  seen = log.size();

  // Asleep again by the timer, then SIGTERM: the stop is logged with the time asleep.
  m = wait_for_log(daemon, "asleep at level 1: the idle timer", log, seen);
  ASSERT_FALSE(m.empty()) << log;
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(30s), 0) << daemon.log();
  log = daemon.log();
  EXPECT_TRUE(std::regex_search(
      log,
      std::regex(
          R"(stopped while asleep: the daemon is shutting down \(SIGTERM\) after [0-9.]+ s asleep)")))
      << log;
}

}  // namespace
}  // namespace mm
