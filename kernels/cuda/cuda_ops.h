// The GPU kernels' launchers and the plain views they take (device pointers in trivially
// copyable structs, passed to kernels by value). Included by the .cu files and by the host-side
// backend (gpu_backend.cpp); every launcher queues work on `stream` and returns at once. The
// launchers whose blocks hold whole warps take `warp`, the device's queried warp width.
// Argument contracts are Backend's (kernels/backend.h) unless said otherwise.
#pragma once


#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cuda/gpu_runtime.h"

namespace mm::cuda {

// One packed Linear in device memory, laid out exactly as PackedLinear (packed_linear.h).
struct DeviceLinear {
  PackedFormat format = PackedFormat::kF32;
  bool int8_activations = false;
  int64_t num_rows = 0;
  int64_t num_cols = 0;
  int64_t group_cols = 0;
  int64_t block_rows = 1;
  int64_t num_groups = 1;
  int64_t row_bytes = 0;
  const uint8_t* data = nullptr;
  const float* scales = nullptr;
  const uint16_t* int4_scales = nullptr;
  const int8_t* int4_zeros = nullptr;  // null: symmetric
  const int32_t* col_perm = nullptr;   // null: identity
};

// A layer's experts: device arrays of num_experts views each.
struct DeviceMoe {
  const DeviceLinear* w1 = nullptr;
  const DeviceLinear* w3 = nullptr;
  const DeviceLinear* w2 = nullptr;
  int64_t num_experts = 0;
  int64_t intermediate_size = 0;
  bool int8_activations = false;  // some expert quantizes its activations (W8A8)
};

// elementwise.cu
void launch_embedding(const uint16_t* table, int64_t hidden, const int32_t* ids, int64_t num_tokens,
                      float* out, gpu::Stream stream);
void launch_rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width, float eps,
                     float* out, gpu::Stream stream);
void launch_sum_squares(const float* x, int64_t num_rows, int64_t width, double scale, float* sums,
                        gpu::Stream stream);
void launch_rms_norm_with_sums(const float* x, const float* gain, const float* sums,
                               int64_t num_rows, int64_t width, int64_t full_width, float eps,
                               float* out, gpu::Stream stream);
void launch_add(const float* a, const float* b, int64_t num_elements, float* out,
                gpu::Stream stream);
void launch_gather_rows(const float* x, int64_t width, const int32_t* indices, int64_t num_rows,
                        float* out, gpu::Stream stream);
// inv_freq: f32 [rotary_dim / 2], computed on the host as the CPU backend does.
void launch_rope_neox(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                      int64_t head_dim, int64_t rotary_dim, const float* inv_freq,
                      gpu::Stream stream);

// attention.cu (head_dim ≤ kMaxHeadDim)
inline constexpr int kMaxHeadDim = 256;
void launch_kv_write(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                     const float* v, gpu::Stream stream);
void launch_paged_attention(const KvLayerView& cache, const AttentionMetadata& meta, const float* q,
                            int64_t num_heads, float* out, int warp, gpu::Stream stream);

// linear.cu
// W8A8: per row sa = amax/127, q = clamp(rne(x · 127/amax)) — bit-identical to the CPU's.
void launch_quantize_rows_int8(const float* x, int64_t num_rows, int64_t width, int8_t* xq,
                               float* x_scales, gpu::Stream stream);
// y = x · Wᵀ computed one output element per warp (decode-sized batches; any format). For
// int8_activations weights, xq / x_scales are the quantized rows of x.
void launch_linear_gemv(const DeviceLinear& w, const float* x, const int8_t* xq,
                        const float* x_scales, int64_t num_tokens, float* y, int warp,
                        gpu::Stream stream);
// Rows [row_begin, row_begin + num_rows) of W dequantized to f32, checkpoint column order:
// out [num_rows, num_cols].
void launch_dequantize_rows(const DeviceLinear& w, int64_t row_begin, int64_t num_rows, float* out,
                            gpu::Stream stream);

// sgemm.cu: y[m, ldy] (row-major; columns [0, n) written) = x[m, k] · w[n, k]ᵀ, f32 with f32
// accumulation, for platforms without a vendor BLAS in Debian (HIP: no rocBLAS / hipBLAS).
void launch_sgemm_xwt(const float* w, int64_t n, int64_t k, const float* x, int64_t m, float* y,
                      int64_t ldy, gpu::Stream stream);

// moe.cu
inline constexpr int kMaxTopK = 32;
inline constexpr int kMaxExperts = 1024;
// One thread per token: sigmoid, biased top-k (ties to the lower id), renormalised weights.
void launch_router_topk(const float* logits, const float* bias, int64_t num_tokens,
                        int64_t num_experts, int64_t top_k, int32_t* ids, float* weights,
                        gpu::Stream stream);
// The work buffers of one MoE call (device memory, sized by the backend).
struct MoeScratch {
  float* hidden_act = nullptr;  // [pairs, intermediate]: silu(x·w1ᵀ) ⊙ (x·w3ᵀ)
  float* down = nullptr;        // [pairs, hidden]
  int8_t* xq = nullptr;         // W8A8: [num_tokens, hidden]
  float* x_scales = nullptr;    // [num_tokens]
  int8_t* hq = nullptr;         // W8A8: [pairs, intermediate]
  float* h_scales = nullptr;    // [pairs]
};
void launch_moe(const DeviceMoe& moe, const float* x, int64_t num_tokens, int64_t hidden,
                const int32_t* ids, const float* weights, int64_t top_k, const MoeScratch& scratch,
                float* out, int warp, gpu::Stream stream);

}  // namespace mm::cuda
