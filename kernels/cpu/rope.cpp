// Partial NeoX RoPE (minimax-m2.md §3.3 step 4). inv_freq[i] = theta^(−2i/rotary_dim) in fp32
// as HF computes it; the angle pos · inv_freq[i] is an fp32 product, cos/sin evaluated in fp32.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace mm {

void rope_neox_cpu(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                   int64_t head_dim, int64_t rotary_dim, double theta) {
  const int64_t half = rotary_dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
    inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
  for (int64_t t = 0; t < num_tokens; ++t) {
    const float pos = static_cast<float>(positions[t]);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq[static_cast<size_t>(i)];
      cos_t[static_cast<size_t>(i)] = std::cos(angle);
      sin_t[static_cast<size_t>(i)] = std::sin(angle);
    }
    for (int64_t h = 0; h < num_heads; ++h) {
      float* u = x + (t * num_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = u[i];
        const float b = u[i + half];
        const float c = cos_t[static_cast<size_t>(i)];
        const float s = sin_t[static_cast<size_t>(i)];
        u[i] = a * c - b * s;
        u[i + half] = b * c + a * s;
      }
    }
  }
}

}  // namespace mm
