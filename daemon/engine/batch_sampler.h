// Samples the sequences of one step in parallel: a few worker threads and the caller take
// sequences in turn from a shared counter. A sequence's token depends only on its own logits,
// parameters and context (sample_token is pure, its randomness keyed by seed and position), so
// the results are those of sampling in order on one thread, whatever thread took which.
// Owned by the engine thread: sample() is called from one thread at a time and is not
// re-entrant; the workers run nothing but sample_token.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "daemon/engine/sampler.h"

namespace mm {

struct SampleJob {
  std::span<float> logits;  // [vocab] f32, used as scratch
  const SamplingParams* params = nullptr;
  SamplerContext context;
};

class BatchSampler {
 public:
  // `num_threads` counts the caller: 1 samples inline. 0: one per CPU this process may run on,
  // at most kMaxThreads.
  explicit BatchSampler(int num_threads = 0);
  ~BatchSampler();
  BatchSampler(const BatchSampler&) = delete;
  BatchSampler& operator=(const BatchSampler&) = delete;

  // Enough to sample 64 sequences of a 200k vocabulary in a few ms; more threads would mostly
  // contend for memory bandwidth with the forward pass.
  static constexpr int kMaxThreads = 8;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // results[i] = sample_token(jobs[i]...). Rethrows the first job's exception, if any.
  void sample(std::span<const SampleJob> jobs, std::span<SampleResult> results);

 private:
  void worker_loop();
  void run_jobs();  // takes jobs until none is left

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;  // workers: a new batch (or stop)
  std::condition_variable done_;  // caller: the last worker left the batch
  uint64_t generation_ = 0;       // guarded by mutex_: bumped per batch
  int num_busy_ = 0;              // guarded by mutex_: workers inside the current batch
  bool stopping_ = false;         // guarded by mutex_

  // The current batch; written by the caller before it bumps generation_.
  std::span<const SampleJob> jobs_;
  std::span<SampleResult> results_;
  std::vector<std::exception_ptr> errors_;
  std::atomic<size_t> next_{0};
};

}  // namespace mm
