#include "kernels/packed_linear.h"

#include "kernels/common/numeric.h"

namespace mm {

int64_t PackedLinear::row_bytes() const {
  switch (format) {
    case PackedFormat::kF32: return num_cols * 4;
    case PackedFormat::kBf16: return num_cols * 2;
    case PackedFormat::kFp8Block:
    case PackedFormat::kInt8Channel: return num_cols;
    case PackedFormat::kInt4Group: return 8 * ((num_cols + 15) / 16);
  }
  return 0;
}

uint64_t PackedLinear::num_bytes() const {
  return data.size() + 4 * (scales.size() + col_perm.size()) + 2 * int4_scales.size() + int4_zeros.size();
}

std::vector<float> unpack_to_f32(const PackedLinear& w) {
  const int64_t n_rows = w.num_rows;
  const int64_t k_cols = w.num_cols;
  std::vector<float> out(static_cast<size_t>(n_rows * k_cols));
  const int64_t num_groups = w.num_groups();
  for (int64_t n = 0; n < n_rows; ++n) {
    const uint8_t* row = w.data.data() + n * w.row_bytes();
    for (int64_t j = 0; j < k_cols; ++j) {
      float value = 0;
      switch (w.format) {
        case PackedFormat::kF32: __builtin_memcpy(&value, row + 4 * j, 4); break;
        case PackedFormat::kBf16: {
          uint16_t bits;
          __builtin_memcpy(&bits, row + 2 * j, 2);
          value = bf16_to_f32(bits);
          break;
        }
        case PackedFormat::kFp8Block:
          value = e4m3fn_to_f32(row[j]) *
                  w.scales[static_cast<size_t>((n / w.block_rows) * num_groups + j / w.group_cols)];
          break;
        case PackedFormat::kInt4Group: {
          const int u = int4_chunked_get(row, j);
          const size_t g = static_cast<size_t>(n * num_groups + j / w.group_cols);
          const float s = bf16_to_f32(w.int4_scales[g]);
          value = static_cast<float>(u) * s + int4_bias(s, w.int4_zeros.empty() ? 0 : w.int4_zeros[g]);
          break;
        }
        case PackedFormat::kInt8Channel:
          value = static_cast<float>(static_cast<int8_t>(row[j])) * w.scales[static_cast<size_t>(n)];
          break;
      }
      const int64_t col = w.col_perm.empty() ? j : w.col_perm[static_cast<size_t>(j)];
      out[static_cast<size_t>(n * k_cols + col)] = value;
    }
  }
  return out;
}

}  // namespace mm
