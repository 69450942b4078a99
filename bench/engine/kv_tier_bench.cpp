// Time to first token of a repeated long prefix through the KV tiers (issue 18): cold (no
// cache), pool hit, host-tier hit (after sleep level 1) and disk-tier hit after a restart (a
// new engine on the same cache folder, its files dropped from the page cache first), plus the
// restore bandwidth against the disk's measured sequential read bandwidth.
//
//   mmd-bench-kv-tier CHECKPOINT [--prefix 2000,8000] [--threads N] [--dir /tmp/mmd-kv-bench]
//                     [--kv-cache-dtype bf16|fp8]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/engine/engine.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class FirstTokenSink : public mm::RequestSink {
 public:
  void on_token(mm::RequestId, const mm::SampleResult&) override {
    std::lock_guard lock(mutex_);
    if (!first_) first_ = Clock::now();
  }
  void on_finish(mm::RequestId, mm::FinishReason, const mm::Usage& usage,
                 const std::string& message) override {
    std::lock_guard lock(mutex_);
    if (!message.empty()) std::fprintf(stderr, "request failed: %s\n", message.c_str());
    cached_ = usage.cached_prompt_tokens;
    done_ = true;
    cv_.notify_all();
  }
  // Seconds from `start` to the first token; the prompt tokens served from cache.
  std::pair<double, int> wait(Clock::time_point start) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_; });
    return {std::chrono::duration<double>(first_.value_or(Clock::now()) - start).count(), cached_};
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Clock::time_point> first_;
  bool done_ = false;
  int cached_ = 0;
};

std::pair<double, int> ttft(mm::Engine& engine, const std::vector<int32_t>& prompt) {
  mm::EngineRequest request;
  request.prompt_token_ids = prompt;
  request.params.temperature = 0.0f;
  request.params.ignore_eos = true;
  request.params.max_tokens = 1;
  auto sink = std::make_shared<FirstTokenSink>();
  const auto start = Clock::now();
  engine.submit(std::move(request), sink);
  return sink->wait(start);
}

void wait_state(const mm::Engine& engine, mm::EngineState state) {
  while (engine.status().state != state)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// Writes each file back and drops it from the page cache, so the next read comes from disk.
void drop_from_page_cache(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Sequential read bandwidth of `dir`'s disk (bytes/s): a 512 MiB file, written, synced,
// dropped from the page cache, read back in 1 MiB reads.
double disk_read_bandwidth(const fs::path& dir) {
  const fs::path file = dir / "read-bandwidth.tmp";
  std::vector<char> chunk(1 << 20, 'x');
  constexpr int kChunks = 512;
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  for (int i = 0; i < kChunks; ++i)
    if (::write(fd, chunk.data(), chunk.size()) < 0) break;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  const auto start = Clock::now();
  size_t total = 0;
  for (ssize_t n; (n = ::read(fd, chunk.data(), chunk.size())) > 0;)
    total += static_cast<size_t>(n);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  fs::remove(file);
  return static_cast<double>(total) / seconds;
}

mm::EngineOptions options_for(const std::string& model, int prefix, int threads, mm::KvDType dtype,
                              const mm::KvTierOptions& tiers) {
  mm::EngineOptions options;
  options.model = model;
  options.runner.num_threads = threads;
  options.runner.kv_dtype = dtype;
  const int blocks = (prefix + 32) / 16 + 8;
  options.pool = mm::BlockPoolOptions{
      .block_size = 16, .blocks_per_chunk = blocks, .initial_num_chunks = 1, .max_num_chunks = 1};
  options.scheduler = mm::SchedulerConfig{
      .max_num_batched_tokens = 2048, .max_num_seqs = 4, .max_model_len = prefix + 8};
  options.kv_tiers = tiers;
  return options;
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ','))
    out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: mmd-bench-kv-tier CHECKPOINT [--prefix 2000,8000] [--threads N] "
                 "[--dir DIR] [--kv-cache-dtype bf16|fp8]\n");
    return 2;
  }
  const std::string model = argv[1];
  std::vector<int> prefixes{2000, 8000};
  int threads = 0;
  fs::path dir = "/tmp/mmd-kv-bench";
  mm::KvDType dtype = mm::KvDType::kBf16;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--prefix") {
      prefixes = parse_list(value);
    } else if (flag == "--threads") {
      threads = std::stoi(value);
    } else if (flag == "--dir") {
      dir = value;
    } else if (flag == "--kv-cache-dtype") {
      dtype = value == "fp8" ? mm::KvDType::kFp8E4M3 : mm::KvDType::kBf16;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  const double disk_bandwidth = disk_read_bandwidth(dir);
  std::printf("disk sequential read: %.0f MB/s (%s)\n", disk_bandwidth / 1e6, dir.c_str());
  std::printf("%-8s %-11s %-11s %-11s %-11s %-9s %-14s\n", "prefix", "cold ms", "pool ms",
              "host ms", "disk ms", "disk/cold", "restore MB/s");
  for (int prefix : prefixes) {
    std::vector<int32_t> prompt;
    for (int t = 0; t < prefix; ++t)
      prompt.push_back(static_cast<int32_t>((t * 7 + t / 13) % 200 + 3));
    const fs::path cache = dir / ("cache-" + std::to_string(prefix));
    const mm::KvTierOptions tiers{
        .host_budget_bytes = 4ull << 30, .disk_budget_bytes = 8ull << 30, .disk_dir = cache};
    double cold = 0, pool = 0, host = 0;
    {
      mm::Engine engine(options_for(model, prefix, threads, dtype, tiers));
      if (!engine.wait_ready(std::chrono::minutes(10))) {
        std::fprintf(stderr, "model failed to load: %s\n", engine.status().error.c_str());
        return 1;
      }
      cold = ttft(engine, prompt).first;
      pool = ttft(engine, prompt).first;
      engine.sleep(1, "the benchmark");  // the pool goes; the host tier keeps its blocks
      wait_state(engine, mm::EngineState::kSleeping);
      engine.wake("the benchmark");
      engine.wait_ready(std::chrono::minutes(10));
      const auto [seconds, cached] = ttft(engine, prompt);
      host = seconds;
      if (cached < prefix - 16) std::fprintf(stderr, "host tier: only %d cached\n", cached);
    }  // the stop writes the pool and the host tier to disk
    drop_from_page_cache(cache);
    mm::KvTierOptions disk_only = tiers;
    disk_only.host_budget_bytes = 0;
    mm::Engine engine(options_for(model, prefix, threads, dtype, disk_only));
    engine.wait_ready(std::chrono::minutes(10));
    const auto [disk, cached] = ttft(engine, prompt);
    if (cached < prefix - 16) std::fprintf(stderr, "disk tier: only %d cached\n", cached);
    const mm::EngineStatus status = engine.status();
    // Each restored block read one file (header + payload) from disk.
    const mm::KvTierStats& disk_tier = status.kv_tiers.at(1);
    const double file_bytes =
        disk_tier.num_blocks > 0
            ? static_cast<double>(disk_tier.num_bytes) / static_cast<double>(disk_tier.num_blocks)
            : 0.0;
    const double restored_bytes = static_cast<double>(status.kv_tier_restored_tokens_total) /
                                  status.kv_block_size * file_bytes;
    const double restore_bw = restored_bytes / std::max(1e-9, status.kv_tier_restore_seconds_total);
    std::printf("%-8d %-11.1f %-11.1f %-11.1f %-11.1f %-9.3f %-14.0f\n", prefix, cold * 1e3,
                pool * 1e3, host * 1e3, disk * 1e3, disk / cold, restore_bw / 1e6);
  }
  fs::remove_all(dir);
  return 0;
}
