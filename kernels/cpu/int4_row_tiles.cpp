#include "kernels/cpu/int4_row_tiles.h"

#include <cstring>

#include "kernels/cpu/linear.h"

namespace mm {

bool int4_tiles_fit(const PackedLinear& w) {
  return !w.resident && int4_fast_shape(w);
}

std::shared_ptr<Int4RowTiles> make_int4_row_tiles(const PackedLinear& w) {
  auto tiles = std::make_shared<Int4RowTiles>();
  const int64_t num_tiles = (w.num_rows + kInt4TileRows - 1) / kInt4TileRows;
  const int64_t num_blocks = w.num_cols / 32;
  const int64_t num_groups = w.num_groups();
  const int64_t row_bytes = w.row_bytes();
  tiles->data.assign(static_cast<size_t>(num_tiles * num_blocks * 256), 0);
  tiles->scales.assign(static_cast<size_t>(num_tiles * num_groups * kInt4TileRows), 0);
  for (int64_t n = 0; n < w.num_rows; ++n) {
    const int64_t t = n / kInt4TileRows, r = n % kInt4TileRows;
    const uint8_t* row = w.data.data() + n * row_bytes;
    for (int64_t b = 0; b < num_blocks; ++b) {
      uint8_t* block = tiles->data.data() + (t * num_blocks + b) * 256;
      for (int64_t j = 0; j < 4; ++j)
        std::memcpy(block + 64 * j + 4 * r, row + 16 * b + 4 * j, 4);
    }
    for (int64_t g = 0; g < num_groups; ++g) {
      tiles->scales[static_cast<size_t>((t * num_groups + g) * kInt4TileRows + r)] =
          w.int4_scales[static_cast<size_t>(n * num_groups + g)];
    }
  }
  return tiles;
}

void make_int4_tiles_resident(PackedLinear& w) {
  std::shared_ptr<Int4RowTiles> tiles = make_int4_row_tiles(w);
  std::vector<uint8_t>().swap(w.data);
  if (w.int4_zeros.empty()) std::vector<uint16_t>().swap(w.int4_scales);
  tiles->host_bytes =
      4 * (w.scales.size() + w.col_perm.size()) + 2 * w.int4_scales.size() + w.int4_zeros.size();
  w.resident = std::move(tiles);
}

const Int4RowTiles* int4_row_tiles(const PackedLinear& w) {
  return dynamic_cast<const Int4RowTiles*>(w.resident.get());
}

}  // namespace mm
