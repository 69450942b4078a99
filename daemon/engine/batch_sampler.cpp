#include "daemon/engine/batch_sampler.h"

#include <sched.h>

#include <algorithm>

namespace mm {
namespace {

int cpus_in_affinity_mask() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

BatchSampler::BatchSampler(int num_threads) {
  if (num_threads <= 0) num_threads = std::min(kMaxThreads, cpus_in_affinity_mask());
  for (int i = 1; i < num_threads; ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

BatchSampler::~BatchSampler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_)
    worker.join();
}

void BatchSampler::run_jobs() {
  for (size_t i = next_.fetch_add(1); i < jobs_.size(); i = next_.fetch_add(1)) {
    const SampleJob& job = jobs_[i];
    try {
      results_[i] = sample_token(job.logits, *job.params, job.context);
    } catch (...) {
      errors_[i] = std::current_exception();  // each job writes only its own slot
    }
  }
}

void BatchSampler::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      ++num_busy_;
    }
    run_jobs();
    {
      std::lock_guard lock(mutex_);
      --num_busy_;
    }
    done_.notify_all();
  }
}

void BatchSampler::sample(std::span<const SampleJob> jobs, std::span<SampleResult> results) {
  if (jobs.size() <= 1 || workers_.empty()) {
    // One sequence: waking a thread would cost more than it could save.
    for (size_t i = 0; i < jobs.size(); ++i)
      results[i] = sample_token(jobs[i].logits, *jobs[i].params, jobs[i].context);
    return;
  }
  {
    // A worker woken late for the previous batch may still be leaving it (it found no job).
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return num_busy_ == 0; });
    jobs_ = jobs;
    results_ = results;
    errors_.assign(jobs.size(), nullptr);
    next_.store(0);
    ++generation_;
  }
  wake_.notify_all();
  run_jobs();
  {
    // A worker that wakes after the jobs ran out finds none and leaves at once; one still
    // inside finishes its job before the batch's spans go away.
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return num_busy_ == 0; });
  }
  for (const std::exception_ptr& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace mm
