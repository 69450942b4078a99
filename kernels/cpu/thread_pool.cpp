#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace mm {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// The CPUs this process may run on: under `mpirun` (which binds each rank to a core by default)
// or a cgroup / taskset, fewer than the machine has. Threads beyond them would share a core and
// spin against each other.
int usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = usable_cpus();
  workers_.reserve(static_cast<size_t>(num_threads - 1));
  for (int i = 1; i < num_threads; ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& worker : workers_)
    worker.join();
}

void ThreadPool::run(int64_t num_items, int64_t grain, ChunkFn fn, void* context) {
  // A worker that saw the previous loop open may still be on its way out.
  wait_for_workers_inside();
  fn_ = fn;
  context_ = context;
  num_items_ = num_items;
  grain_ = grain;
  next_.store(0, std::memory_order_relaxed);
  phase_.fetch_add(1);  // open
  if (sleepers_.load() > 0) {
    std::lock_guard lock(mutex_);
    wake_.notify_all();
  }
  work_on_job();
  phase_.fetch_add(1);  // closed: no worker joins from now on
  // Workers inside are running their last chunk; it is as short as any chunk the caller ran.
  wait_for_workers_inside();
}

void ThreadPool::wait_for_workers_inside() {
  for (int spins = 0; active_.load() != 0; ++spins) {
    if (spins < 4096) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // oversubscribed machine: let the worker run
    }
  }
}

void ThreadPool::work_on_job() {
  for (;;) {
    const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= num_items_) return;
    fn_(context_, begin, std::min(num_items_, begin + grain_));
  }
}

uint64_t ThreadPool::wait_for_phase(uint64_t seen) {
  using Clock = std::chrono::steady_clock;
  const auto spin_until = Clock::now() + std::chrono::microseconds(kSpinMicros);
  for (int spins = 0;; ++spins) {
    const uint64_t phase = phase_.load();
    if (phase != seen || stopping_.load()) return phase;
    if ((spins & 255) == 255) {
      if (Clock::now() > spin_until) break;
      std::this_thread::yield();  // an oversubscribed machine gets the core back often
    }
    cpu_relax();
  }
  std::unique_lock lock(mutex_);
  sleepers_.fetch_add(1);
  // The caller reads sleepers_ after opening a loop; re-reading phase_ after announcing
  // ourselves (both sequentially consistent) means one of us sees the other.
  wake_.wait(lock, [&] { return phase_.load() != seen || stopping_.load(); });
  sleepers_.fetch_sub(1);
  return phase_.load();
}

void ThreadPool::worker_loop() {
  uint64_t seen = phase_.load();
  for (;;) {
    const uint64_t phase = wait_for_phase(seen);
    if (stopping_.load()) return;
    seen = phase;
    if ((phase & 1) == 0) continue;  // woke on a close: wait for the next open
    active_.fetch_add(1);
    // Still the loop we saw open? If the caller has closed it since, its job may already be
    // replaced: leave without touching it.
    if (phase_.load() == phase) work_on_job();
    active_.fetch_sub(1);
  }
}

}  // namespace mm
