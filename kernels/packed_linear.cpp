#include "kernels/packed_linear.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/common/numeric.h"

namespace mm {

int64_t PackedLinear::row_bytes() const {
  switch (format) {
    case PackedFormat::kF32:
      return num_cols * 4;
    case PackedFormat::kBf16:
      return num_cols * 2;
    case PackedFormat::kFp8Block:
    case PackedFormat::kInt8Channel:
      return num_cols;
    case PackedFormat::kInt4Group:
      return 8 * ((num_cols + 15) / 16);
  }
  return 0;
}

uint64_t PackedLinear::num_bytes() const {
  if (resident) return resident->num_bytes();
  return data.size() + 4 * (scales.size() + col_perm.size()) + 2 * int4_scales.size() +
         int4_zeros.size();
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
        case PackedFormat::kF32:
          __builtin_memcpy(&value, row + 4 * j, 4);
          break;
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
          value =
              static_cast<float>(u) * s + int4_bias(s, w.int4_zeros.empty() ? 0 : w.int4_zeros[g]);
          break;
        }
        case PackedFormat::kInt8Channel:
          value =
              static_cast<float>(static_cast<int8_t>(row[j])) * w.scales[static_cast<size_t>(n)];
          break;
      }
      const int64_t col = w.col_perm.empty() ? j : w.col_perm[static_cast<size_t>(j)];
      out[static_cast<size_t>(n * k_cols + col)] = value;
    }
  }
  return out;
}

}  // namespace mm

namespace mm {
namespace {

[[noreturn]] void misfit(const PackedLinear& w, const std::string& what) {
  throw std::invalid_argument("cannot split " + w.name + ": " + what);
}

void check_range(const PackedLinear& w, int64_t begin, int64_t end, int64_t size,
                 const char* axis) {
  if (begin < 0 || end > size || begin >= end) {
    misfit(w, std::string(axis) + " [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") of " + std::to_string(size));
  }
}

// Byte offset of column `begin` inside a packed row (int4: `begin` starts a 16-column chunk).
int64_t column_offset(const PackedLinear& w, int64_t begin) {
  switch (w.format) {
    case PackedFormat::kF32:
      return begin * 4;
    case PackedFormat::kBf16:
      return begin * 2;
    case PackedFormat::kFp8Block:
    case PackedFormat::kInt8Channel:
      return begin;
    case PackedFormat::kInt4Group:
      return begin / 16 * 8;
  }
  return 0;
}

}  // namespace

PackedLinear slice_rows(const PackedLinear& w, int64_t begin, int64_t end) {
  check_range(w, begin, end, w.num_rows, "rows");
  PackedLinear out = w;
  out.num_rows = end - begin;
  const auto row_bytes = static_cast<size_t>(w.row_bytes());
  out.data.assign(w.data.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(begin) * row_bytes),
                  w.data.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(end) * row_bytes));
  const auto groups = static_cast<size_t>(w.num_groups());
  auto rows_of = [&](const auto& per_row, size_t width) {
    using V = std::decay_t<decltype(per_row)>;
    if (per_row.empty()) return V{};
    return V(per_row.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(begin) * width),
             per_row.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(end) * width));
  };
  switch (w.format) {
    case PackedFormat::kFp8Block: {
      if (w.block_rows >= w.num_rows) {  // one scale row (per-tensor scale): it applies to any cut
        out.block_rows = out.num_rows;
        break;
      }
      if (begin % w.block_rows != 0 || (end % w.block_rows != 0 && end != w.num_rows))
        misfit(w, "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") cut its " +
                      std::to_string(w.block_rows) + "-row scale blocks");
      const int64_t first = begin / w.block_rows;
      const int64_t last = (end + w.block_rows - 1) / w.block_rows;
      out.scales.assign(
          w.scales.begin() + static_cast<ptrdiff_t>(first * static_cast<int64_t>(groups)),
          w.scales.begin() + static_cast<ptrdiff_t>(last * static_cast<int64_t>(groups)));
      break;
    }
    case PackedFormat::kInt8Channel:
      out.scales = rows_of(w.scales, 1);
      break;
    case PackedFormat::kInt4Group:
      out.int4_scales = rows_of(w.int4_scales, groups);
      out.int4_zeros = rows_of(w.int4_zeros, groups);
      break;
    default:
      break;
  }
  return out;
}

PackedLinear slice_columns(const PackedLinear& w, int64_t begin, int64_t end) {
  check_range(w, begin, end, w.num_cols, "columns");
  if (!w.col_perm.empty()) misfit(w, "activation-ordered (g_idx) int4 columns cannot be split");
  const bool grouped = w.format == PackedFormat::kFp8Block || w.format == PackedFormat::kInt4Group;
  // A single column group (per-channel or per-tensor scales) may be cut anywhere, except
  // inside an int4 16-column chunk.
  const bool one_group = w.group_cols >= w.num_cols;
  const int64_t align = w.format == PackedFormat::kInt4Group ? (one_group ? 16 : w.group_cols)
                        : grouped && !one_group              ? w.group_cols
                                                             : 1;
  if (begin % align != 0 || (end % align != 0 && end != w.num_cols))
    misfit(w, "columns [" + std::to_string(begin) + ", " + std::to_string(end) + ") cut its " +
                  std::to_string(align) + "-column groups");
  PackedLinear out = w;
  out.num_cols = end - begin;
  if (one_group) out.group_cols = out.num_cols;
  const int64_t offset = column_offset(w, begin);
  const int64_t src_row = w.row_bytes();
  out.data.resize(static_cast<size_t>(w.num_rows * out.row_bytes()));
  for (int64_t n = 0; n < w.num_rows; ++n) {
    std::copy_n(w.data.begin() + static_cast<ptrdiff_t>(n * src_row + offset), out.row_bytes(),
                out.data.begin() + static_cast<ptrdiff_t>(n * out.row_bytes()));
  }
  if (grouped && !one_group) {
    const int64_t g0 = begin / w.group_cols;
    const int64_t g1 = (end + w.group_cols - 1) / w.group_cols;
    const int64_t groups = w.num_groups();
    const int64_t scale_rows = w.format == PackedFormat::kFp8Block
                                   ? (w.num_rows + w.block_rows - 1) / w.block_rows
                                   : w.num_rows;
    auto cut = [&](const auto& table) {
      std::decay_t<decltype(table)> part;
      if (table.empty()) return part;
      for (int64_t r = 0; r < scale_rows; ++r)
        part.insert(part.end(), table.begin() + r * groups + g0, table.begin() + r * groups + g1);
      return part;
    };
    out.scales = cut(w.scales);
    out.int4_scales = cut(w.int4_scales);
    out.int4_zeros = cut(w.int4_zeros);
  }
  return out;
}

}  // namespace mm
