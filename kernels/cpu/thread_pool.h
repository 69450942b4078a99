// A fixed pool of worker threads that runs one parallel loop at a time. The calling thread
// takes part in every loop. Owned by one backend; parallel_for() must be called from one thread
// at a time (the model runner's), and is not re-entrant (a loop body must not start another).
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
  // `num_threads` counts the caller: 1 runs everything inline. 0 means one per hardware thread.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

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

  // One parallel loop, on the caller's stack for the duration of parallel_for().
  struct Job {
    ChunkFn fn = nullptr;
    void* context = nullptr;
    int64_t num_items = 0;
    int64_t grain = 1;
    std::atomic<int64_t> next{0};
    int num_active = 0;  // workers inside this job, guarded by mutex_
  };

  void run(int64_t num_items, int64_t grain, ChunkFn fn, void* context);
  static void work_on(Job& job);
  void worker_loop();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  uint64_t generation_ = 0;  // bumped per job, guarded by mutex_
  bool stopping_ = false;    // guarded by mutex_
  // The job workers may still join, guarded by mutex_. The caller clears it when it has run
  // out of chunks and then waits only for workers already inside: a worker the OS has not
  // scheduled yet (the machine may be oversubscribed) never delays the caller.
  Job* job_ = nullptr;
};

}  // namespace mm
