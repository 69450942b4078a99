// A fixed pool of worker threads that runs one parallel loop at a time. The calling thread
// takes part in every loop. Owned by one backend; parallel_for() must be called from one thread
// at a time (the model runner's), and is not re-entrant (a loop body must not start another).
//
// A forward pass is a few hundred short loops back to back, so waking a sleeping worker through
// the kernel for each (tens of microseconds on a VM) would cost more than many loops take. Idle
// workers therefore spin on an atomic for a short while (kSpinMicros) before they sleep on a
// condition variable; the caller only touches the mutex when some worker is asleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mm {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 1 runs everything inline. 0 means one per CPU this process
  // may run on (its affinity mask: mpirun binds ranks to cores).
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // How long an idle worker polls for the next loop before it sleeps.
  static constexpr int kSpinMicros = 2000;

  // Calls body(begin, end) over disjoint chunks covering [0, num_items), each at most `grain`
  // items long (the last may be shorter). Which thread runs a chunk is unspecified, so a body
  // must write only outputs that belong to its own items: then results do not depend on the
  // number of threads.
  template <class Body>
  void parallel_for(int64_t num_items, int64_t grain, Body&& body) {
    if (num_items <= 0) return;
    if (grain < 1) grain = 1;
    if (workers_.empty() || num_items <= grain) {
      for (int64_t begin = 0; begin < num_items; begin += grain) {
        body(begin, begin + grain < num_items ? begin + grain : num_items);
      }
      return;
    }
    run(num_items, grain, &invoke<Body>, &body);
  }

 private:
  using ChunkFn = void (*)(void* context, int64_t begin, int64_t end);

  template <class Body>
  static void invoke(void* context, int64_t begin, int64_t end) {
    (*static_cast<Body*>(context))(begin, end);
  }

  void run(int64_t num_items, int64_t grain, ChunkFn fn, void* context);
  void work_on_job();
  // Spins (yielding the core after a while) until no worker is inside the current loop.
  void wait_for_workers_inside();
  void worker_loop();
  // Waits until `phase_` differs from `seen` (or the pool stops); returns the new phase.
  uint64_t wait_for_phase(uint64_t seen);

  std::vector<std::thread> workers_;

  // The current loop. Written by the caller only while no worker is inside it (active_ == 0)
  // and before it is opened, so a worker that saw it open reads a consistent job.
  ChunkFn fn_ = nullptr;
  void* context_ = nullptr;
  int64_t num_items_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_{0};

  // Odd: a loop is open for workers to join; even: closed. The caller closes a loop when it
  // has run out of chunks and then waits only for workers already inside (active_), so a
  // worker the OS has not scheduled yet never delays it; a worker that arrives late sees the
  // loop closed and leaves without touching it.
  std::atomic<uint64_t> phase_{0};
  std::atomic<int> active_{0};
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};  // workers blocked (or about to block) on wake_
};

}  // namespace mm
