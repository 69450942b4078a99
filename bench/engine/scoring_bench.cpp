// The cost of prompt log-probabilities (issue 16): prompt tokens per second through the engine
// for a plain prefill (max_tokens 1: logits of the last position only) against a scoring
// request (prompt_logprobs n, max_tokens 0: logits, log-softmax, rank and top n at every
// position), the same prompts, prefix cache off, requests one after another.
//
//   mmd-bench-scoring CHECKPOINT [--prompt 512] [--requests 4] [--top 1] [--threads N]
//
// Prints prompt tok/s of each kind and their ratio.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "daemon/engine/engine.h"

namespace {

using Clock = std::chrono::steady_clock;

class WaitSink : public mm::RequestSink {
 public:
  void on_token(mm::RequestId, const mm::SampleResult&) override {}
  void on_prompt_logprobs(mm::RequestId, std::span<const mm::ScoredToken> scores) override {
    std::lock_guard lock(mutex_);
    num_scores_ += static_cast<int64_t>(scores.size());
  }
  void on_finish(mm::RequestId, mm::FinishReason reason, const mm::Usage&,
                 const std::string& message) override {
    std::lock_guard lock(mutex_);
    if (reason == mm::FinishReason::kError)
      std::fprintf(stderr, "request failed: %s\n", message.c_str());
    done_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_; });
  }
  int64_t num_scores() const { return num_scores_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  int64_t num_scores_ = 0;
};

// Prompt tok/s over `requests` distinct prompts of `prompt_len` tokens, one at a time.
double run(mm::Engine& engine, int requests, int prompt_len, int top_n, int salt) {
  double seconds = 0.0;
  for (int r = 0; r < requests; ++r) {
    mm::EngineRequest request;
    for (int t = 0; t < prompt_len; ++t)
      request.prompt_token_ids.push_back(static_cast<int32_t>((r * 131 + t * 7 + salt) % 200 + 3));
    request.params.temperature = 0.0f;
    request.params.ignore_eos = true;
    request.params.max_tokens = top_n < 0 ? 1 : 0;
    request.params.prompt_logprobs = top_n;
    auto sink = std::make_shared<WaitSink>();
    const auto start = Clock::now();
    engine.submit(std::move(request), sink);
    sink->wait();
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
    if (top_n >= 0 && sink->num_scores() != prompt_len - 1)
      std::fprintf(stderr, "scored %lld of %d tokens\n", static_cast<long long>(sink->num_scores()),
                   prompt_len - 1);
  }
  return static_cast<double>(requests) * prompt_len / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: mmd-bench-scoring CHECKPOINT [--prompt N] [--requests N] [--top N] "
                 "[--threads N]\n");
    return 2;
  }
  mm::EngineOptions options;
  options.model = argv[1];
  int prompt_len = 512;
  int requests = 4;
  int top_n = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::stoi(argv[i + 1]);
    if (flag == "--prompt") {
      prompt_len = value;
    } else if (flag == "--requests") {
      requests = value;
    } else if (flag == "--top") {
      top_n = value;
    } else if (flag == "--threads") {
      options.runner.num_threads = value;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  options.pool = mm::BlockPoolOptions{.block_size = 16,
                                      .blocks_per_chunk = (prompt_len + 16) / 16 + 1,
                                      .initial_num_chunks = 1,
                                      .max_num_chunks = 1};
  options.scheduler = mm::SchedulerConfig{.max_num_batched_tokens = 2048,
                                          .max_num_seqs = 1,
                                          .max_model_len = prompt_len + 2,
                                          .enable_prefix_caching = false};
  mm::Engine engine(options);
  if (!engine.wait_ready(std::chrono::minutes(10))) {
    std::fprintf(stderr, "model failed to load: %s\n", engine.status().error.c_str());
    return 1;
  }
  run(engine, 1, prompt_len, -1, 997);  // warm-up
  const double plain = run(engine, requests, prompt_len, -1, 0);
  const double scoring = run(engine, requests, prompt_len, top_n, 0);
  std::printf("%-10s %-10s %-18s %-20s %s\n", "prompt", "top n", "prefill tok/s", "scoring tok/s",
              "scoring / prefill");
  std::printf("%-10d %-10d %-18.1f %-20.1f %.3f\n", prompt_len, top_n, plain, scoring,
              scoring / plain);
  return 0;
}
