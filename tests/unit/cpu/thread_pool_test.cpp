#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace mm {
namespace {

TEST(ThreadPool, EveryItemRunsExactlyOnce) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t items : {0, 1, 3, 17, 127, 1000}) {
      for (int64_t grain : {1, 7, 64}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(items));
        pool.parallel_for(items, grain, [&](int64_t begin, int64_t end) {
          EXPECT_LE(end - begin, grain);
          for (int64_t i = begin; i < end; ++i)
            hits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (int64_t i = 0; i < items; ++i)
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "item " << i;
      }
    }
  }
}

TEST(ThreadPool, ManyConsecutiveLoopsDoNotLoseWork) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(10, 1, [&](int64_t begin, int64_t end) { total += end - begin; });
  }
  EXPECT_EQ(total.load(), 20000);
}

// Idle workers poll for kSpinMicros, then sleep on a condition variable: loops started after
// they fell asleep (and right as they fall asleep) must still cover every item exactly once.
TEST(ThreadPool, LoopsAfterWorkersFellAsleepCoverEveryItem) {
  ThreadPool pool(3);
  for (int round = 0; round < 6; ++round) {
    // Round 0 starts at once; then pauses around and well beyond the polling window.
    std::this_thread::sleep_for(std::chrono::microseconds(round * ThreadPool::kSpinMicros / 2));
    std::vector<std::atomic<int>> hits(257);
    pool.parallel_for(257, 3, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (size_t i = 0; i < hits.size(); ++i)
      ASSERT_EQ(hits[i].load(), 1) << "round " << round << " item " << i;
  }
}

TEST(ThreadPool, DefaultSizeFollowsTheAffinityMask) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  ThreadPool pool(0);
  EXPECT_EQ(pool.num_threads(), CPU_COUNT(&set));
}

}  // namespace
}  // namespace mm
