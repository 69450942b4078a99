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
  {
    std::lock_guard lock(mutex_);
    fn_ = fn;
    context_ = context;
    num_items_ = num_items;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    num_busy_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  work_on_current_job();
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return num_busy_ == 0; });
}

void ThreadPool::work_on_current_job() {
  for (;;) {
    const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= num_items_) return;
    fn_(context_, begin, std::min(num_items_, begin + grain_));
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    work_on_current_job();
    {
      std::lock_guard lock(mutex_);
      if (--num_busy_ == 0) done_.notify_one();
    }
  }
}

}  // namespace mm
