// The kernel layout of one Linear weight W [num_rows = N out, num_cols = K in], built once at
// load by daemon/model/weight_packing (never at run time). y[m, n] = Σ_k x[m, k] · W[n, k].
// Plain value type; immutable after packing, so kernels may read it from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mm {

enum class PackedFormat : uint8_t {
  kF32,          // data: f32 [N, K] row-major
  kBf16,         // data: bf16 bits [N, K] row-major
  kFp8Block,     // data: e4m3fn codes [N, K]; scales f32 [cdiv(N, block_rows), cdiv(K, group_cols)]
  kInt4Group,    // data: u8 [N, 8·cdiv(K, 16)]: columns in chunks of 16; byte 8c + i holds
                 // column 16c + i in its low nibble and 16c + 8 + i in its high one (one 8-byte
                 // load and a zero-extension give 16 columns in order); each nibble u ∈ [0, 15].
                 // Group sizes are multiples of 16 (or one group). With g = k / group_cols,
                 // s = int4_scales[n, g] (bf16) and z = int4_zeros[n, g] (0 when symmetric):
                 // W[n, k] = u · s + int4_bias(s, z), exact in f32 (= (u − 8 − z) · s)
  kInt8Channel,  // data: i8 [N, K]; scales f32 [N]: W[n, k] = q · scales[n]
};

// A weight copied into a backend's own memory (Backend::make_resident); what it holds is that
// backend's business.
class ResidentWeights {
 public:
  virtual ~ResidentWeights() = default;
  virtual uint64_t num_bytes() const = 0;
};

struct PackedLinear {
  std::string name;  // checkpoint module name, for errors and reports
  PackedFormat format = PackedFormat::kF32;
  int64_t num_rows = 0;    // N
  int64_t num_cols = 0;    // K
  int64_t group_cols = 0;  // columns sharing one scale (kFp8Block, kInt4Group); K otherwise
  int64_t block_rows = 1;  // kFp8Block: rows sharing one scale
  std::vector<uint8_t> data;
  std::vector<float> scales;          // kFp8Block / kInt8Channel, see the format
  std::vector<uint16_t> int4_scales;  // kInt4Group: bf16 bits [N, num_groups()] (2 bytes/group)
  std::vector<int8_t> int4_zeros;     // kInt4Group asymmetric: [N, num_groups()]; empty = symmetric
  // Activation-ordered int4 (compressed-tensors actorder "group"): packed column j holds
  // checkpoint column col_perm[j], so kernels read x[col_perm[j]]. Empty = identity.
  std::vector<int32_t> col_perm;
  // kInt8Channel W8A8: quantize activations per token to int8 and accumulate in int32
  // (quant-formats §2.3); false = W8A16 (f32 activations).
  bool int8_activations = false;
  // The backend's copy, when it keeps one (then the host vectors above may be empty; the
  // shape fields stay valid). On the CPU backend only INT4 under fast numerics on AVX-512
  // VNNI has one, its row tiles (kernels/cpu/int4_row_tiles.h).
  std::shared_ptr<const ResidentWeights> resident;

  int64_t num_groups() const {
    return group_cols > 0 ? (num_cols + group_cols - 1) / group_cols : 1;
  }
  int64_t row_bytes() const;
  uint64_t num_bytes() const;  // resident bytes: data, scales, zeros, col_perm
};

// The additive term of a kInt4Group weight: −(8 + z) · s.
inline float int4_bias(float scale, int zero) {
  return -static_cast<float>(8 + zero) * scale;
}

// Nibble of column k in a kInt4Group row.
inline int int4_chunked_get(const uint8_t* row, int64_t k) {
  return (row[8 * (k / 16) + (k % 8)] >> (4 * ((k % 16) / 8))) & 0xF;
}

// Dequantized W [N, K] in f32, checkpoint column order (for round-trip tests and references).
std::vector<float> unpack_to_f32(const PackedLinear& weight);

// One tensor-parallel rank's share of a packed weight, cut in packed form (no requantization):
// rows [begin, end) for a column-parallel layer, columns [begin, end) for a row-parallel one.
// Cuts must keep scale blocks whole (FP8 block rows / columns, int4 groups and 16-column
// chunks); activation-ordered int4 cannot be cut by columns. Throws std::invalid_argument
// naming the weight and the misfit.
PackedLinear slice_rows(const PackedLinear& weight, int64_t begin, int64_t end);
PackedLinear slice_columns(const PackedLinear& weight, int64_t begin, int64_t end);

}  // namespace mm
