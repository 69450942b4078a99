// Test-only: seeded random activations and PackedLinear weights in every format, built
// directly in the kernel layout (the packers are tested separately against the checkpoints).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/common/numeric.h"
#include "kernels/packed_linear.h"

namespace mm::testing {

inline std::vector<float> random_normal(std::mt19937& rng, size_t count, float stddev = 1.0f) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> out(count);
  for (float& v : out) v = dist(rng);
  return out;
}

// A random weight [num_rows, num_cols] in `format` (group_cols / block_rows used where the
// format has them). Scales are positive, around 0.01–0.1.
inline PackedLinear random_linear(std::mt19937& rng, PackedFormat format, int64_t num_rows,
                                  int64_t num_cols, int64_t group_cols = 32, int64_t block_rows = 16,
                                  bool asymmetric = false, bool permuted = false) {
  PackedLinear w;
  w.name = "test";
  w.format = format;
  w.num_rows = num_rows;
  w.num_cols = num_cols;
  w.group_cols = num_cols;
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  const auto count = static_cast<size_t>(num_rows * num_cols);
  switch (format) {
    case PackedFormat::kF32: {
      w.data.resize(count * 4);
      for (size_t i = 0; i < count; ++i) {
        const float v = random_normal(rng, 1, 0.1f)[0];
        std::memcpy(w.data.data() + 4 * i, &v, 4);
      }
      break;
    }
    case PackedFormat::kBf16: {
      w.data.resize(count * 2);
      for (size_t i = 0; i < count; ++i) {
        const uint16_t bits = f32_to_bf16(random_normal(rng, 1, 0.1f)[0]);
        std::memcpy(w.data.data() + 2 * i, &bits, 2);
      }
      break;
    }
    case PackedFormat::kFp8Block: {
      w.group_cols = group_cols;
      w.block_rows = block_rows;
      w.data.resize(count);
      for (uint8_t& b : w.data) {
        do b = static_cast<uint8_t>(byte(rng)); while ((b & 0x7F) == 0x7F);  // no NaN codes
      }
      w.scales.resize(static_cast<size_t>((num_rows + block_rows - 1) / block_rows * w.num_groups()));
      for (float& s : w.scales) s = scale(rng) / 64.0f;
      break;
    }
    case PackedFormat::kInt4Group: {
      w.group_cols = group_cols;
      w.data.resize(static_cast<size_t>(num_rows * w.row_bytes()));
      for (uint8_t& b : w.data) b = static_cast<uint8_t>(byte(rng));
      w.int4_scales.resize(static_cast<size_t>(num_rows * w.num_groups()));
      for (uint16_t& s : w.int4_scales) s = f32_to_bf16(scale(rng));
      if (asymmetric) {
        std::uniform_int_distribution<int> zero(-8, 7);
        w.int4_zeros.resize(w.int4_scales.size());
        for (int8_t& z : w.int4_zeros) z = static_cast<int8_t>(zero(rng));
      }
      if (permuted) {
        w.col_perm.resize(static_cast<size_t>(num_cols));
        std::iota(w.col_perm.begin(), w.col_perm.end(), 0);
        std::shuffle(w.col_perm.begin(), w.col_perm.end(), rng);
      }
      break;
    }
    case PackedFormat::kInt8Channel: {
      w.data.resize(count);
      for (uint8_t& b : w.data) b = static_cast<uint8_t>(byte(rng));
      w.scales.resize(static_cast<size_t>(num_rows));
      for (float& s : w.scales) s = scale(rng) / 10.0f;
      break;
    }
  }
  return w;
}

}  // namespace mm::testing
