// The machine's memory bandwidth as the benchmarks' roofline: a STREAM-like triad
// a = b + s·c over arrays far larger than the last-level cache (3 × 128 MiB), split over every
// thread of `pool`; best of `repeats`. STREAM convention: 3 × 4 bytes per element
// (write-allocate traffic not counted).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "kernels/cpu/thread_pool.h"

namespace mm::bench {

inline double measure_triad(ThreadPool& pool, int repeats) {
  const int64_t n = int64_t{32} << 20;
  std::vector<float> a(static_cast<size_t>(n), 0.0f), b(static_cast<size_t>(n), 1.0f),
      c(static_cast<size_t>(n), 2.0f);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n, int64_t{1} << 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        a[static_cast<size_t>(i)] = b[static_cast<size_t>(i)] + 3.0f * c[static_cast<size_t>(i)];
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 3.0 * 4.0 * static_cast<double>(n) / s);
  }
  // The result must be observable, or the stores could be dropped.
  volatile float sink = a[static_cast<size_t>(n / 2)];
  (void)sink;
  return best;
}

}  // namespace mm::bench
