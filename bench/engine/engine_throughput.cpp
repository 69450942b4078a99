// End-to-end generation throughput of the engine (scheduler + runner + sampler) on a
// checkpoint: N concurrent requests of P prompt tokens and O output tokens each.
//
//   mmd-bench-engine CHECKPOINT [--concurrency 1,8,32] [--prompt 64] [--output 64]
//                    [--kv-cache-dtype bf16|fp8] [--threads N]
//
// Prints one line per concurrency: generated tokens/s, mean TTFT, mean inter-token latency.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/engine/engine.h"

namespace {

using Clock = std::chrono::steady_clock;

class CountingSink : public mm::RequestSink {
 public:
  void on_token(mm::RequestId, const mm::SampleResult&) override {}
  void on_finish(mm::RequestId, mm::FinishReason, const mm::Usage& usage,
                 const std::string& message) override {
    std::lock_guard lock(mutex_);
    generated_ += usage.completion_tokens;
    if (!message.empty() && message != "cancelled")
      std::fprintf(stderr, "request failed: %s\n", message.c_str());
    ++finished_;
    cv_.notify_all();
  }
  void wait_for(int count) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return finished_ >= count; });
  }
  int64_t generated() const { return generated_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int finished_ = 0;
  int64_t generated_ = 0;
};

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
                 "usage: mmd-bench-engine CHECKPOINT [--concurrency 1,8,32] [--prompt N] "
                 "[--output N] [--kv-cache-dtype bf16|fp8] [--threads N]\n");
    return 2;
  }
  mm::EngineOptions options;
  options.model = argv[1];
  std::vector<int> concurrency{1, 8, 32};
  int prompt_len = 64;
  int output_len = 64;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--concurrency")
      concurrency = parse_list(value);
    else if (flag == "--prompt")
      prompt_len = std::stoi(value);
    else if (flag == "--output")
      output_len = std::stoi(value);
    else if (flag == "--threads")
      options.runner.num_threads = std::stoi(value);
    else if (flag == "--kv-cache-dtype")
      options.runner.kv_dtype = value == "fp8" ? mm::KvDType::kFp8E4M3 : mm::KvDType::kBf16;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  int max_concurrency = 1;
  for (int c : concurrency)
    max_concurrency = std::max(max_concurrency, c);
  const int blocks_per_seq = (prompt_len + output_len + 15) / 16 + 1;
  options.pool = mm::BlockPoolOptions{.block_size = 16,
                                      .blocks_per_chunk = blocks_per_seq * max_concurrency,
                                      .initial_num_chunks = 1,
                                      .max_num_chunks = 1};
  options.scheduler = mm::SchedulerConfig{.max_num_batched_tokens = 2048,
                                          .max_num_seqs = max_concurrency,
                                          .max_model_len = prompt_len + output_len + 1,
                                          .enable_prefix_caching = false};
  mm::Engine engine(options);
  if (!engine.wait_ready(std::chrono::minutes(10))) {
    std::fprintf(stderr, "model failed to load: %s\n", engine.status().error.c_str());
    return 1;
  }
  std::printf("%-12s %-8s %-8s %-14s %-12s %-12s\n", "concurrency", "prompt", "output", "gen tok/s",
              "TTFT ms", "ITL ms");
  for (int c : concurrency) {
    const mm::EngineStatus before = engine.status();
    auto sink = std::make_shared<CountingSink>();
    const auto start = Clock::now();
    for (int r = 0; r < c; ++r) {
      mm::EngineRequest request;
      for (int t = 0; t < prompt_len; ++t) {
        request.prompt_token_ids.push_back(static_cast<int32_t>((r * 131 + t * 7) % 200 + 3));
      }
      request.params.temperature = 0.0f;
      request.params.ignore_eos = true;
      request.params.max_tokens = output_len;
      engine.submit(std::move(request), sink);
    }
    sink->wait_for(c);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const mm::EngineStatus after = engine.status();
    const auto& ttft = after.time_to_first_token;
    const auto& itl = after.inter_token_latency;
    const double mean_ttft = (ttft.sum - before.time_to_first_token.sum) /
                             static_cast<double>(ttft.count - before.time_to_first_token.count);
    const double mean_itl = (itl.sum - before.inter_token_latency.sum) /
                            static_cast<double>(itl.count - before.inter_token_latency.count);
    std::printf("%-12d %-8d %-8d %-14.1f %-12.2f %-12.3f\n", c, prompt_len, output_len,
                static_cast<double>(sink->generated()) / seconds, mean_ttft * 1e3, mean_itl * 1e3);
  }
  return 0;
}
