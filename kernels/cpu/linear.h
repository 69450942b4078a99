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
};

// Writes y[m, n] (f32 [num_tokens, N] row-major) for rows n in [row_begin, row_end).
using LinearRowsFn = void (*)(const LinearWeightsView& w, const LinearInputs& in, int64_t row_begin,
                              int64_t row_end, float* y);

LinearRowsFn linear_rows_scalar(PackedFormat format, bool int8_activations);
LinearRowsFn linear_rows_avx2(PackedFormat format, bool int8_activations);

// Buffers for the activations a linear call prepares (act-order permutation, int8 quantization);
// owned by the caller, reused across calls.
struct LinearScratch {
  std::vector<float> x_perm;
  std::vector<int8_t> xq;
  std::vector<float> x_scales;
  std::vector<float> x_group_sums;
};

// One prepared linear call: y = x · Wᵀ, ready to run rows of.
struct LinearTask {
  LinearWeightsView view;
  LinearInputs in;
  LinearRowsFn rows = nullptr;
  float* y = nullptr;
};

// Prepares y = x · Wᵀ (x: f32 [num_tokens, K]; y: f32 [num_tokens, N]) using `scratch`, which
// must outlive the task.
LinearTask prepare_linear(CpuIsa isa, const PackedLinear& w, const float* x, int64_t num_tokens,
                          float* y, LinearScratch& scratch);
// Runs several independent tasks in one parallel loop over all their row chunks (one pool
// dispatch instead of one per task: the MoE runs every expert's gate and up projections so).
void run_linear_tasks(ThreadPool& pool, const LinearTask* tasks, int64_t num_tasks);

// x: f32 [num_tokens, w.num_cols]; y: f32 [num_tokens, w.num_rows] (must not alias x).
void linear_cpu(ThreadPool& pool, CpuIsa isa, const PackedLinear& w, const float* x,
                int64_t num_tokens, float* y);

// Per-token dynamic int8 quantization (quant-formats §2.3): sa = amax/127,
// q = clamp(rne(x · (127/amax)), −128, 127); amax = 0 gives sa = 1, q = 0.
// x: f32 [K]; xq: i8 [K]; returns sa.
float quantize_int8_per_token(const float* x, int64_t num_cols, int8_t* xq);

}  // namespace mm
