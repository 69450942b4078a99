#include "kernels/cpu/thread_pool.h"

#include <algorithm>

namespace mm {

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers_.reserve(static_cast<size_t>(num_threads - 1));
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::run(int64_t num_items, int64_t grain, ChunkFn fn, void* context) {
  Job job;
  job.fn = fn;
  job.context = context;
  job.num_items = num_items;
  job.grain = grain;
  {
    std::lock_guard lock(mutex_);
    job_ = &job;
    ++generation_;
  }
  wake_.notify_all();
  work_on(job);
  std::unique_lock lock(mutex_);
  job_ = nullptr;
  done_.wait(lock, [&] { return job.num_active == 0; });
}

void ThreadPool::work_on(Job& job) {
  for (;;) {
    const int64_t begin = job.next.fetch_add(job.grain);
    if (begin >= job.num_items) return;
    job.fn(job.context, begin, std::min(job.num_items, begin + job.grain));
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    Job* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      if (job == nullptr) continue;  // woke after the caller finished that job
      ++job->num_active;
    }
    work_on(*job);
    std::lock_guard lock(mutex_);
    if (--job->num_active == 0) done_.notify_one();
  }
}

}  // namespace mm
