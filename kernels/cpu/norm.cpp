// RMSNorm in fp32 (minimax-m2.md §3.2): r = 1/sqrt(mean(x²) + eps), out = gain ⊙ (x · r).
// The mean of squares is summed in f64 so the result does not depend on summation order.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace mm {

void rms_norm_cpu(ThreadPool& pool, const float* x, const float* gain, int64_t num_rows,
                  int64_t width, float eps, float* out) {
  pool.parallel_for(num_rows, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * width;
      double sum = 0;
      for (int64_t i = 0; i < width; ++i)
        sum += static_cast<double>(row[i]) * row[i];
      const float mean = static_cast<float>(sum / static_cast<double>(width));
      const float inv = 1.0f / std::sqrt(mean + eps);
      float* dst = out + r * width;
      for (int64_t i = 0; i < width; ++i)
        dst[i] = gain[i] * (row[i] * inv);
    }
  });
}

void sum_squares_cpu(const float* x, int64_t num_rows, int64_t width, double scale, float* sums) {
  for (int64_t r = 0; r < num_rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < width; ++i)
      sum += static_cast<double>(x[r * width + i]) * x[r * width + i];
    sums[r] = static_cast<float>(sum * scale);
  }
}

void rms_norm_with_sums_cpu(const float* x, const float* gain, const float* sums, int64_t num_rows,
                            int64_t width, int64_t full_width, float eps, float* out) {
  for (int64_t r = 0; r < num_rows; ++r) {
    const float inv = 1.0f / std::sqrt(sums[r] / static_cast<float>(full_width) + eps);
    for (int64_t i = 0; i < width; ++i)
      out[r * width + i] = gain[i] * (x[r * width + i] * inv);
  }
}

void add_cpu(const float* a, const float* b, int64_t num_elements, float* out) {
  for (int64_t i = 0; i < num_elements; ++i)
    out[i] = a[i] + b[i];
}

}  // namespace mm
