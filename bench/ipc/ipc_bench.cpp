// The cost of the shared-memory path: the same requests through a real mmd process (libmmclient,
// shm rings, Unix-socket wake-ups) and through the Engine called directly in this process, with
// identical engine flags, at 1 and 64 concurrent clients. Then the idle daemon's CPU use.
//
//   ipc_bench MMD_BINARY MODEL_DIR [--reps N] [--idle-seconds S]
//
// Round trip: submit a 4-token prompt with max_tokens 1, until its Finished arrives.
// Streaming: max_tokens 128; per-token time = (end-to-end time - round trip) / 127, so the
// difference between the two paths is the per-token delivery overhead.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "client/libmmclient/mmclient.h"
#include "ipc/codec.h"
#include "ipc/frame_endpoint.h"
#include "ipc/shm_segment.h"
#include "daemon/engine/engine.h"
#include "daemon/service/config.h"
#include "daemon/service/engine_setup.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kStreamTokens = 128;

std::vector<std::string> engine_flags(const std::string& model, const std::string& socket) {
  return {"--model",         model,  "--socket",        socket, "--kv-cache-dtype",
          "bfloat16",        "--kv-block-size", "16",   "--num-kv-blocks",
          "4096",            "--max-model-len", "1024", "--max-num-seqs",
          "64",              "--max-num-batched-tokens", "512", "--threads",
          "1",               "--log-level", "warning"};
}

std::vector<int32_t> prompt(int length, int seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>((seed * 37 + i * 11) % 240 + 5));
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

struct Samples {
  std::vector<double> round_trip_us;
  std::vector<double> stream_us;  // end-to-end of a kStreamTokens request
};

// ---- direct ---------------------------------------------------------------------------------

class WaitSink : public mm::RequestSink {
 public:
  void on_token(mm::RequestId, const mm::SampleResult&) override {}
  void on_finish(mm::RequestId, mm::FinishReason, const mm::Usage&, const std::string&) override {
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

mm::EngineRequest request_of(int seed, int max_tokens) {
  mm::EngineRequest r;
  r.prompt_token_ids = prompt(4, seed);
  r.params.temperature = 0.0f;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  return r;
}

Samples run_direct(mm::Engine& engine, int num_clients, int reps) {
  Samples samples;
  std::mutex mutex;
  for (int max_tokens : {1, kStreamTokens}) {
    std::vector<std::thread> threads;
    for (int c = 0; c < num_clients; ++c) {
      threads.emplace_back([&, c] {
        for (int r = 0; r < reps; ++r) {
          auto sink = std::make_shared<WaitSink>();
          const auto start = Clock::now();
          engine.submit(request_of(c * 1000 + r, max_tokens), sink);
          sink->wait();
          const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          std::lock_guard lock(mutex);
          (max_tokens == 1 ? samples.round_trip_us : samples.stream_us).push_back(us);
        }
      });
    }
    for (auto& t : threads)
      t.join();
  }
  return samples;
}

// ---- through mmd ----------------------------------------------------------------------------

Samples run_shm(const std::string& socket, int num_clients, int reps) {
  Samples samples;
  std::mutex mutex;
  for (int max_tokens : {1, kStreamTokens}) {
    std::vector<std::thread> threads;
    for (int c = 0; c < num_clients; ++c) {
      threads.emplace_back([&, c] {
        mm::client::ConnectOptions options;
        options.socket_path = socket;
        auto client = mm::client::Client::connect(options);
        for (int r = 0; r < reps; ++r) {
          mm::ipc::Submit submit;
          submit.prompt_token_ids = prompt(4, c * 1000 + r);
          submit.sampling.temperature = 0.0f;
          submit.sampling.max_tokens = max_tokens;
          submit.sampling.ignore_eos = true;
          const auto start = Clock::now();
          const uint64_t id = client->submit(submit);
          const auto outcome = client->stream(id, nullptr, 120s);
          const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          if (!outcome.ok) {
            std::cerr << "request failed: " << outcome.error.message << "\n";
            std::exit(1);
          }
          std::lock_guard lock(mutex);
          (max_tokens == 1 ? samples.round_trip_us : samples.stream_us).push_back(us);
        }
      });
    }
    for (auto& t : threads)
      t.join();
  }
  return samples;
}

// ---- the transport alone ------------------------------------------------------------------
// One echo thread per pair plays the daemon: it decodes each client frame and answers with a
// one-token Delta through the other ring, waking the client through a socketpair exactly as
// the daemon does. The client measures encode + ring + wake-up + decode, both ways.
std::vector<double> run_transport(int num_pairs, int iterations) {
  std::vector<double> round_trip_us;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int p = 0; p < num_pairs; ++p) {
    threads.emplace_back([&, p] {
      int fds[2];
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
      auto daemon_side = std::make_shared<mm::ipc::ShmSegment>(mm::ipc::ShmSegment::create(
          "mmd-bench-" + std::to_string(::getpid()) + "-" + std::to_string(p), 1 << 16, 1 << 16));
      const int fd = ::dup(daemon_side->fd());
      daemon_side->unlink();
      mm::ipc::ShmSegment client_side = mm::ipc::ShmSegment::attach(fd);
      std::thread echo([&, daemon_side] {
        mm::ipc::FrameEndpoint endpoint(fds[1], daemon_side->to_client(), daemon_side->to_daemon());
        std::string bytes;
        for (int i = 0; i < iterations; ++i) {
          if (endpoint.receive(bytes, 10s) != mm::ipc::ShmRing::ReadResult::kFrame) return;
          const auto frame = mm::ipc::decode_client_frame(bytes);
          mm::ipc::Delta delta;
          delta.token_ids = {static_cast<int32_t>(i)};
          endpoint.send(mm::ipc::encode(mm::ipc::ServerFrame{frame.id, delta}), 10s);
        }
      });
      mm::ipc::FrameEndpoint endpoint(fds[0], client_side.to_daemon(), client_side.to_client());
      std::vector<double> local;
      std::string bytes;
      for (int i = 0; i < iterations; ++i) {
        const auto start = Clock::now();
        endpoint.send(mm::ipc::encode(mm::ipc::ClientFrame{static_cast<uint64_t>(i + 1),
                                                           mm::ipc::Cancel{}}),
                      10s);
        if (endpoint.receive(bytes, 10s) != mm::ipc::ShmRing::ReadResult::kFrame) break;
        mm::ipc::decode_server_frame(bytes);
        local.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      }
      echo.join();
      ::close(fds[0]);
      ::close(fds[1]);
      std::lock_guard lock(mutex);
      round_trip_us.insert(round_trip_us.end(), local.begin(), local.end());
    });
  }
  for (auto& t : threads)
    t.join();
  return round_trip_us;
}

long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long total = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i == 14 || i == 15) total += std::stol(field);
  return total;
}

void report(const char* path, int clients, const Samples& s) {
  const double rt = percentile(s.round_trip_us, 50);
  const double per_token = (percentile(s.stream_us, 50) - rt) / (kStreamTokens - 1);
  std::printf("| %-6s | %2d | %9.1f | %9.1f | %9.1f | %9.1f |\n", path, clients, rt,
              percentile(s.round_trip_us, 90), per_token, percentile(s.stream_us, 50) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: ipc_bench MMD_BINARY MODEL_DIR [--reps N] [--idle-seconds S]\n";
    return 2;
  }
  const std::string mmd = argv[1];
  const std::string model = argv[2];
  int reps = 20;
  int idle_seconds = 10;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--reps") reps = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--idle-seconds") idle_seconds = std::atoi(argv[i + 1]);
  }
  std::printf("| transport only | pairs | round trip p50 (µs) | p90 (µs) | p99 (µs) |\n");
  std::printf("| --- | --- | --- | --- | --- |\n");
  for (int pairs : {1, 64}) {
    const auto samples = run_transport(pairs, pairs == 1 ? 20000 : 500);
    std::printf("| shm ring + wake-up | %d | %.1f | %.1f | %.1f |\n", pairs,
                percentile(samples, 50), percentile(samples, 90), percentile(samples, 99));
  }
  std::printf("\n");

  char dir_template[] = "/tmp/mmd-bench-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const std::string socket = dir + "/mmd.sock";
  const auto flags = engine_flags(model, socket);

  std::printf("| path   | clients | round trip p50 (µs) | round trip p90 (µs) | per token (µs) | %d-token request p50 (ms) |\n",
              kStreamTokens);
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  {
    mm::DaemonConfig config;
    std::string unused;
    mm::parse_command_line(flags, config, unused);
    mm::Engine engine(mm::make_engine_setup(config).engine);
    if (!engine.wait_ready(60s)) {
      std::cerr << "the engine did not load\n";
      return 1;
    }
    run_direct(engine, 1, 3);  // warm-up
    report("direct", 1, run_direct(engine, 1, reps));
    report("direct", 64, run_direct(engine, 64, std::max(1, reps / 8)));
  }

  // The daemon, with readiness taken from our own NOTIFY_SOCKET.
  const std::string notify_path = dir + "/notify";
  const int notify_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path.c_str(), sizeof address.sun_path - 1);
  ::bind(notify_fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    std::vector<std::string> args = flags;
    args.insert(args.begin(), mmd);
    std::vector<char*> raw;
    for (auto& a : args)
      raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  for (;;) {
    pollfd entry{notify_fd, POLLIN, 0};
    if (::poll(&entry, 1, 60000) <= 0) {
      std::cerr << "mmd did not become ready\n";
      ::kill(pid, SIGKILL);
      return 1;
    }
    char buffer[512];
    const ssize_t n = ::recv(notify_fd, buffer, sizeof buffer, 0);
    if (n > 0 && std::string(buffer, static_cast<size_t>(n)).find("READY=1") != std::string::npos)
      break;
  }
  run_shm(socket, 1, 3);  // warm-up
  report("shm", 1, run_shm(socket, 1, reps));
  report("shm", 64, run_shm(socket, 64, std::max(1, reps / 8)));

  const long before = cpu_ticks(pid);
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  const long after = cpu_ticks(pid);
  const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::printf("\nidle daemon CPU over %d s: %ld ticks = %.3f%% of one core\n", idle_seconds,
              after - before,
              100.0 * static_cast<double>(after - before) / ticks_per_second / idle_seconds);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(notify_fd);
  std::filesystem::remove_all(dir);
  return 0;
}
