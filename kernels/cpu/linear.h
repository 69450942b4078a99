// y = x · Wᵀ on the CPU for every PackedFormat (kernels/README.md "Numerics" for what each
// format computes). Called from the runner thread; rows of W are split over the pool.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/packed_linear.h"

namespace mm {

// Raw view of a PackedLinear for the row kernels (plain pointers: the AVX2 translation unit
// instantiates no standard-library templates, so no AVX2 code can leak into shared symbols).
struct LinearWeightsView {
  PackedFormat format = PackedFormat::kF32;
  int64_t num_rows = 0;    // N
  int64_t num_cols = 0;    // K
  int64_t row_bytes = 0;   // bytes of one packed row of `data`
  int64_t group_cols = 0;  // columns per scale group (K when the format has none)
  int64_t num_groups = 1;
  int64_t block_rows = 1;
  const uint8_t* data = nullptr;
  const float* scales = nullptr;
  const uint16_t* int4_scales = nullptr;  // kInt4Group: bf16 bits [N, num_groups]
  const int8_t* int4_zeros = nullptr;     // kInt4Group: [N, num_groups] or null (symmetric)
  // kInt4Group made resident as row tiles (int4_row_tiles.h; then `data` is null).
  const uint8_t* int4_tiles = nullptr;
  const uint16_t* int4_tile_scales = nullptr;
};

// Activations prepared once per call, shared by every row kernel.
struct LinearInputs {
  const float* x = nullptr;  // f32 [num_tokens, K], packed column order
  int64_t num_tokens = 0;
  const int8_t* xq = nullptr;       // W8A8: i8 [num_tokens, K]
  const float* x_scales = nullptr;  // W8A8: f32 [num_tokens], amax / 127
  // kInt4Group with whole groups of 16·j columns: f32 [num_tokens, num_groups], the sum of x over
  // each group. The AVX2 kernel multiplies raw nibbles and takes the +8 / zero-point offset out
  // of the sum once per group through it: Σ (u − o)·x = Σ u·x − o·Σ x.
  const float* x_group_sums = nullptr;
  // Fast numerics (linear_int8dot.h): x quantized per token in blocks of 32 columns.
  // xq_blocks: i8 [num_tokens, K] in the layout the kernel reads (int8_act_index);
  // x_block_scales: f32 [num_tokens, K / 32], amax / 127 of each block. With int4 weights
  // x_group_sums then holds Σ_b d_b · Σq over each weight group's blocks instead: the SIMD
  // kernels take the zero points' z_g out through it (the 8 in the integer dot, below), the
  // scalar reference the whole 8 + z_g.
  const int8_t* xq_blocks = nullptr;
  const float* x_block_scales = nullptr;
  // The same per block repeated for the 4 int32 lanes a block's dot lands in (one load per
  // token and block pair in the SIMD kernels): (int4 packed rows) f32 [num_tokens, 4 · K / 32]
  // holding d_b four times, and (int4) i32 [num_tokens, 4 · K / 32] holding
  // {−8 · Σq_b, 0, 0, 0}, the symmetric offset taken out in the integer domain
  // (Σ (u − 8)·q = Σ u·q − 8·Σq; the row tiles broadcast its first lane); zero points z then
  // remain for the f32 term Σ_g z_g · s_g · X_g.
  const float* x_block_scales4 = nullptr;
  const int32_t* x_block_offsets4 = nullptr;
  // (int4 packed rows) The block scales of tokens in groups of four, f32
  // [ceil(num_tokens / 4), K / 32, 4]:
  // d of tokens 4g .. 4g + 3 for each block (0 past the last token), which the ymm kernel
  // multiplies by a row's scale once for a tile of four tokens.
  const float* x_token_scales4 = nullptr;
};

// Writes y[m, n] (f32 [num_tokens, N] row-major) for rows n in [row_begin, row_end).
using LinearRowsFn = void (*)(const LinearWeightsView& w, const LinearInputs& in, int64_t row_begin,
                              int64_t row_end, float* y);

LinearRowsFn linear_rows_scalar(PackedFormat format, bool int8_activations);
LinearRowsFn linear_rows_avx2(PackedFormat format, bool int8_activations);

// The fast (int8-dot) row kernels of one ISA, or null when `format` has none there (BF16 and
// F32 weights, FP8 below AVX-512, and shapes the kernels do not take, run the exact kernels
// instead). FP8 blocks keep f32 activations: their AVX-512 kernel differs from the exact one
// only in f32 summation order.
// Defined in linear_int8dot*.cpp.
LinearRowsFn linear_rows_int8dot(CpuIsa isa, PackedFormat format, bool int8_activations);
LinearRowsFn linear_rows_int8dot_scalar(PackedFormat format, bool int8_activations);
LinearRowsFn linear_rows_int8dot_avx2(PackedFormat format, bool int8_activations);
LinearRowsFn linear_rows_int8dot_avxvnni(PackedFormat format, bool int8_activations);
LinearRowsFn linear_rows_int8dot_avx512vnni(PackedFormat format, bool int8_activations);
// INT4 row tiles under fast numerics (AVX-512 VNNI only; activations in column order).
LinearRowsFn linear_rows_int4_tiles_avx512vnni();

// Where column k of a K-column token lands in the int4 fast kernels' activation layout. The
// int4 chunk layout puts columns {0-7, 16-23} of a 32-column block in the low nibbles of its
// 16 bytes and {8-15, 24-31} in the high ones, so the activations are stored to match: blocks
// are taken in super-blocks of `superblock` (the last one may be shorter, nb blocks); block i of
// a super-block has its low-nibble columns at 16·i and its high-nibble ones at 16·(nb + i). One
// SIMD load then gives the activations of the low (or high) nibbles of nb blocks.
inline int64_t int4_act_index(int64_t k, int64_t num_blocks, int superblock) {
  const int64_t b = k / 32, j = k % 32;
  const int64_t first = b - b % superblock;
  const int64_t nb = num_blocks - first < superblock ? num_blocks - first : superblock;
  const int64_t i = b - first;
  const bool low = (j % 16) < 8;
  const int64_t pos = (j / 16) * 8 + j % 8;
  return first * 32 + (low ? 16 * i : 16 * (nb + i)) + pos;
}

// Buffers for the activations a linear call prepares (act-order permutation, int8 quantization);
// owned by the caller, reused across calls.
struct LinearScratch {
  std::vector<float> x_perm;
  std::vector<int8_t> xq;
  std::vector<float> x_scales;
  std::vector<float> x_group_sums;
  std::vector<int8_t> xq_blocks;
  std::vector<float> x_block_scales;
  std::vector<float> x_block_scales4;
  std::vector<int32_t> x_block_offsets4;
  std::vector<float> x_token_scales4;
};

// One prepared linear call: y = x · Wᵀ, ready to run rows of.
struct LinearTask {
  LinearWeightsView view;
  LinearInputs in;
  LinearRowsFn rows = nullptr;
  float* y = nullptr;
};

// Whether the fast INT4 kernels take `w`: INT4 with K a multiple of 32 and groups of whole
// 32-column blocks (or one group); other INT4 shapes run the exact kernels.
bool int4_fast_shape(const PackedLinear& w);

// Prepares y = x · Wᵀ (x: f32 [num_tokens, K]; y: f32 [num_tokens, N]) using `scratch`, which
// must outlive the task.
// numerics kFast takes the int8-dot kernels where the format has them (exact otherwise).
LinearTask prepare_linear(CpuIsa isa, const PackedLinear& w, const float* x, int64_t num_tokens,
                          float* y, LinearScratch& scratch,
                          CpuNumerics numerics = CpuNumerics::kExact);
// Runs several independent tasks in one parallel loop over all their row chunks (one pool
// dispatch instead of one per task: the MoE runs every expert's gate and up projections so).
void run_linear_tasks(ThreadPool& pool, const LinearTask* tasks, int64_t num_tasks);

// x: f32 [num_tokens, w.num_cols]; y: f32 [num_tokens, w.num_rows] (must not alias x).
void linear_cpu(ThreadPool& pool, CpuIsa isa, const PackedLinear& w, const float* x,
                int64_t num_tokens, float* y, CpuNumerics numerics = CpuNumerics::kExact);

// Per-token dynamic int8 quantization (quant-formats §2.3): sa = amax/127,
// q = clamp(rne(x · (127/amax)), −128, 127); amax = 0 gives sa = 1, q = 0.
// x: f32 [K]; xq: i8 [K]; returns sa.
float quantize_int8_per_token(const float* x, int64_t num_cols, int8_t* xq);

// The fast kernels' activation quantization, per block of 32 columns (num_cols % 32 == 0):
// d_b = amax_b / 127, q = rne(x · (127 / amax_b)) ∈ [−127, 127] (amax_b = 0: d_b = 0, q = 0).
// x: f32 [K]; xq: i8 [K] at int4_act_index(k, K / 32, superblock) when superblock > 0, at k when
// superblock == 0; d: f32 [K / 32]; qsum (may be null): i32 [K / 32], Σq of each block.
void quantize_int8_blocks32(const float* x, int64_t num_cols, int superblock, int8_t* xq, float* d,
                            int32_t* qsum);
// The same with AVX2 (linear_int8dot_avx2.cpp), bit-identical; only where the CPU has AVX2.
void quantize_int8_blocks32_avx2(const float* x, int64_t num_cols, int superblock, int8_t* xq,
                                 float* d, int32_t* qsum);

}  // namespace mm
