// INT4 weights repacked at load for the AVX-512 VNNI fast kernel (linear_int8dot_avx512vnni.cpp,
// rows_int4_tiles): sixteen rows interleaved so that one zmm holds the same four bytes (eight
// columns' nibbles) of sixteen rows, one row per 32-bit lane. vpdpbusd then dots sixteen rows
// against one token's four activations broadcast to every lane, with no horizontal sums: the
// ymm kernels' int4_rows4 / int4_tokens4 spend a third of their instructions reducing lanes.
//
// Layout, per tile of rows 16T .. 16T + 15 and 32-column block b (K / 32 blocks), 256 bytes:
// dword j (0-3) of the block's 16 chunk-layout bytes (packed_linear.h: low nibbles of dword j
// are columns 16·(j/2) + 4·(j%2) + 0..3, high nibbles the same + 8) of row 16T + r at byte
// 64·j + 4·r. Scales: bf16 [ceil(N / 16), num_groups, 16]. Rows past N are zero (their outputs
// are never written). Only the layout changes: each (row, token) output is computed with the
// same exact int32 block sums and the same f32 steps as the ymm kernels, so the bits are theirs.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/packed_linear.h"

namespace mm {

constexpr int64_t kInt4TileRows = 16;

struct Int4RowTiles final : ResidentWeights {
  std::vector<uint8_t> data;     // [ceil(N / 16), K / 32, 4, 16] dwords
  std::vector<uint16_t> scales;  // bf16 [ceil(N / 16), num_groups, 16]
  uint64_t host_bytes = 0;       // what the PackedLinear still holds beside these
  uint64_t num_bytes() const override { return data.size() + 2 * scales.size() + host_bytes; }
};

// Whether `w` can be tiled: not resident yet, and a shape the fast INT4 kernels take
// (int4_fast_shape).
bool int4_tiles_fit(const PackedLinear& w);

// The tiles of `w` (int4_tiles_fit(w) must hold); `w` is unchanged.
std::shared_ptr<Int4RowTiles> make_int4_row_tiles(const PackedLinear& w);

// The CPU backend's make_resident for the AVX-512 fast path: replaces `w`'s row data (and its
// scales when it has no zero points; the zero-point term still reads them) by tiles held in
// w.resident. Afterwards only the tile kernel can run `w`.
void make_int4_tiles_resident(PackedLinear& w);

// The tiles `w` holds, or null.
const Int4RowTiles* int4_row_tiles(const PackedLinear& w);

}  // namespace mm
