// Load and wake progress from the outside: a real mmd loading the mid-size bench checkpoint
// (bench/make_checkpoint, ~340 MB) reports the checkpoint bytes read, rising to the shards'
// total size, while it loads and again while it wakes from sleep level 2; and `mmctl status
// --wait` (and `mmctl wake`) with --progress always print progress lines off a terminal and
// exit 0 once the daemon is ready.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/libmmclient/mmclient.h"
#include "tests/integration/daemon/daemon_process.h"

namespace {

using namespace std::chrono_literals;
using mm::testing::DaemonProcess;
namespace fs = std::filesystem;

const std::string kMmctl = std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl";
const std::string kMakeCheckpoint = std::string(MMD_BINARY_DIR) + "/bench/make_checkpoint";

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `argv` with stdout and stderr to files (not a terminal) and waits for it.
Result run(const std::vector<std::string>& argv, const fs::path& dir) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    const int out = ::open((dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open((dir / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(null, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(dir / "out"),
          read_file(dir / "err")};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

class LoadProgress : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("mmd-load-progress-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const Result made = run({kMakeCheckpoint, (dir_ / "ckpt").string()}, dir_);
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path checkpoint() { return dir_ / "ckpt"; }
  // What the status must count up to: every shard's size on disk.
  static uint64_t shard_bytes() {
    uint64_t total = 0;
    for (const auto& entry : fs::directory_iterator(checkpoint()))
      if (entry.path().extension() == ".safetensors") total += fs::file_size(entry.path());
    return total;
  }
  static std::vector<std::string> daemon_args() {
    return {"--model", checkpoint().string(), "--bus", "none", "--threads", "2"};
  }
  static std::unique_ptr<mm::client::Client> connect(const DaemonProcess& daemon) {
    // The socket listens before the model loads (the status says "loading").
    for (int i = 0; i < 400 && !fs::exists(daemon.socket_path()); ++i)
      std::this_thread::sleep_for(5ms);
    mm::client::ConnectOptions options;
    options.socket_path = daemon.socket_path();
    return mm::client::Client::connect(options);
  }

  struct Sample {
    std::string state;
    uint64_t done = 0;
    uint64_t total = 0;
  };
  // Polls the status while it is `state` (and `also`, the state before it) until it is not.
  static std::vector<Sample> samples_until_settled(mm::client::Client& client,
                                                   const std::string& state,
                                                   const std::string& also) {
    std::vector<Sample> samples;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      const mm::ipc::StatusReply s = client.status();
      samples.push_back({s.state, s.load_bytes_done, s.load_bytes_total});
      if (s.state != state && s.state != also) break;
      std::this_thread::sleep_for(2ms);
    }
    return samples;
  }
  // The bytes rise to the shards' size: never down, some seen part-way, the end exact.
  static void expect_rising_to_total(const std::vector<Sample>& samples, const std::string& state) {
    const uint64_t total = shard_bytes();
    ASSERT_GE(samples.size(), 2u);
    EXPECT_EQ(samples.back().state, "ready");
    EXPECT_EQ(samples.back().done, total);
    EXPECT_EQ(samples.back().total, total);
    int part_way = 0;
    uint64_t last = 0;
    for (const Sample& s : samples) {
      if (s.state != state) continue;
      EXPECT_GE(s.done, last) << "bytes read went down";
      last = s.done;
      if (s.total == 0) continue;  // the checkpoint is not open yet
      EXPECT_EQ(s.total, total);
      EXPECT_LE(s.done, total);
      if (s.done > 0 && s.done < total) ++part_way;
    }
    EXPECT_GE(part_way, 2) << "the load was seen part-way too rarely to say it rises";
  }

  static fs::path dir_;
};

fs::path LoadProgress::dir_;

TEST_F(LoadProgress, BytesRiseToTheShardSizesWhileLoadingAndWaking) {
  DaemonProcess daemon(daemon_args());
  auto client = connect(daemon);
  std::vector<Sample> load = samples_until_settled(*client, "loading", "loading");
  ASSERT_EQ(load.front().state, "loading") << "the load was over before the first status";
  expect_rising_to_total(load, "loading");

  // Level 2 drops the checkpoint from the page cache: waking reads it again, from 0.
  client->sleep(2);
  for (int i = 0; i < 1000 && client->status().state != "sleeping"; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(client->status().state, "sleeping");
  client->wake();
  std::vector<Sample> wake = samples_until_settled(*client, "waking", "sleeping");
  ASSERT_TRUE(std::any_of(wake.begin(), wake.end(), [](const Sample& s) {
    return s.state == "waking";
  })) << "the wake was never seen";
  expect_rising_to_total(wake, "waking");
}

TEST_F(LoadProgress, StatusWaitPrintsProgressLinesAndEndsReady) {
  DaemonProcess daemon(daemon_args());
  connect(daemon);  // only to know the socket is there
  const std::string total_mb = std::to_string((shard_bytes() + 500'000) / 1'000'000);
  auto expect_lines = [&](const Result& r, const std::string& state) {
    const auto lines = lines_of(r.err);
    ASSERT_GE(lines.size(), 2u) << r.err;
    // The first as soon as it is seen, then one every 2 s, each with the bar and the bytes.
    EXPECT_TRUE(lines.front().starts_with(state + " [")) << r.err;
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      // The first may come before the checkpoint is open: no total yet.
      if (i > 0) {
        EXPECT_NE(line.find("/" + total_mb + " MB"), std::string::npos) << line;
      }
      EXPECT_EQ(line.find('\r'), std::string::npos) << "a redraw off a terminal: " << line;
    }
    // And one when it is over.
    EXPECT_TRUE(lines.back().starts_with(state + " [##############################] 100% " +
                                         total_mb + "/" + total_mb + " MB; ready after "))
        << r.err;
  };

  const Result loading = run({kMmctl, "status", "--wait", "--progress", "always", "--socket",
                              daemon.socket_path(), "--timeout", "120"},
                             daemon.dir());
  EXPECT_EQ(loading.exit_code, 0) << loading.err;
  EXPECT_NE(loading.out.find("state        ready\n"), std::string::npos) << loading.out;
  expect_lines(loading, "loading");

  // Without --progress, off a terminal: nothing but the status.
  const Result quiet =
      run({kMmctl, "status", "--wait", "--socket", daemon.socket_path()}, daemon.dir());
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");

  const Result slept =
      run({kMmctl, "sleep", "--level", "2", "--socket", daemon.socket_path()}, daemon.dir());
  ASSERT_EQ(slept.exit_code, 0) << slept.err;
  const Result woken = run({kMmctl, "wake", "--progress", "always", "--socket",
                            daemon.socket_path(), "--timeout", "120"},
                           daemon.dir());
  EXPECT_EQ(woken.exit_code, 0) << woken.err;
  EXPECT_NE(woken.out.find(": ready"), std::string::npos) << woken.out;
  expect_lines(woken, "waking");

  EXPECT_EQ(run({kMmctl, "status", "--progress", "sometimes"}, daemon.dir()).exit_code, 2);
}

}  // namespace
