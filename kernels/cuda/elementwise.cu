// Embedding, RMSNorm (and its two sharded halves), residual add, row gather and partial NeoX
// RoPE. The norms follow the CPU backend's arithmetic: mean of squares summed in f64,
// 1/sqrt in f32 (IEEE sqrt and division: nvcc's and hipcc's defaults), out = gain · (x · inv).
#include "kernels/cuda/device_math.cuh"

namespace mm::cuda {
namespace {

// 256 threads: a row of the model (hidden 3072) takes 12 passes, and the block reduction
// needs one shared slot per warp (8 on NVIDIA / RDNA, 4 on CDNA).
constexpr int kThreads = 256;

__global__ void embedding_kernel(const uint16_t* table, int64_t hidden, const int32_t* ids,
                                 float* out) {
  const int64_t t = blockIdx.x;
  const uint16_t* row = table + static_cast<int64_t>(ids[t]) * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x)
    out[t * hidden + i] = bf16_bits_to_float(row[i]);
}

// Σ x² of one row in f64, reduced over the block; every thread gets the total.
__device__ double block_sum_squares(const float* row, int64_t width) {
  __shared__ double partial[kThreads / kWarp];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
    sum += static_cast<double>(row[i]) * row[i];
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    sum += shfl_xor(sum, offset);
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  if (threadIdx.x % kWarp == 0) partial[warp] = sum;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x) / kWarp; ++w)
    total += partial[w];
  __syncthreads();  // partial[] is reused by the next call
  return total;
}

__global__ void rms_norm_kernel(const float* x, const float* gain, int64_t width, float eps,
                                float* out) {
  const int64_t r = blockIdx.x;
  const float* row = x + r * width;
  const double sum = block_sum_squares(row, width);
  const float mean = static_cast<float>(sum / static_cast<double>(width));
  const float inv = 1.0f / sqrtf(mean + eps);
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
    out[r * width + i] = gain[i] * (row[i] * inv);
}

__global__ void sum_squares_kernel(const float* x, int64_t width, double scale, float* sums) {
  const int64_t r = blockIdx.x;
  const double sum = block_sum_squares(x + r * width, width);
  if (threadIdx.x == 0) sums[r] = static_cast<float>(sum * scale);
}

__global__ void rms_norm_with_sums_kernel(const float* x, const float* gain, const float* sums,
                                          int64_t width, int64_t full_width, float eps,
                                          float* out) {
  const int64_t r = blockIdx.x;
  const float inv = 1.0f / sqrtf(sums[r] / static_cast<float>(full_width) + eps);
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
    out[r * width + i] = gain[i] * (x[r * width + i] * inv);
}

__global__ void add_kernel(const float* a, const float* b, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

__global__ void gather_rows_kernel(const float* x, int64_t width, const int32_t* indices,
                                   float* out) {
  const int64_t r = blockIdx.x;
  const float* src = x + static_cast<int64_t>(indices[r]) * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
    out[r * width + i] = src[i];
}

// One block per token; threads over (head, pair).
__global__ void rope_neox_kernel(float* x, const int32_t* positions, int64_t num_heads,
                                 int64_t head_dim, int64_t half, const float* inv_freq) {
  const int64_t t = blockIdx.x;
  const float pos = static_cast<float>(positions[t]);
  for (int64_t item = threadIdx.x; item < num_heads * half; item += blockDim.x) {
    const int64_t h = item / half;
    const int64_t i = item % half;
    const float angle = pos * inv_freq[i];
    const float c = cosf(angle);
    const float s = sinf(angle);
    float* u = x + (t * num_heads + h) * head_dim;
    const float a = u[i];
    const float b = u[i + half];
    // Written as two products and a subtraction / addition (no fused multiply-add), the
    // CPU backend's rounding.
    u[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    u[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  }
}

}  // namespace

void launch_embedding(const uint16_t* table, int64_t hidden, const int32_t* ids, int64_t num_tokens,
                      float* out, gpu::Stream stream) {
  if (num_tokens == 0) return;
  embedding_kernel<<<static_cast<unsigned>(num_tokens), kThreads, 0, stream>>>(table, hidden, ids,
                                                                               out);
}

void launch_rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width, float eps,
                     float* out, gpu::Stream stream) {
  if (num_rows == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(num_rows), kThreads, 0, stream>>>(x, gain, width, eps,
                                                                            out);
}

void launch_sum_squares(const float* x, int64_t num_rows, int64_t width, double scale, float* sums,
                        gpu::Stream stream) {
  if (num_rows == 0) return;
  sum_squares_kernel<<<static_cast<unsigned>(num_rows), kThreads, 0, stream>>>(x, width, scale,
                                                                               sums);
}

void launch_rms_norm_with_sums(const float* x, const float* gain, const float* sums,
                               int64_t num_rows, int64_t width, int64_t full_width, float eps,
                               float* out, gpu::Stream stream) {
  if (num_rows == 0) return;
  rms_norm_with_sums_kernel<<<static_cast<unsigned>(num_rows), kThreads, 0, stream>>>(
      x, gain, sums, width, full_width, eps, out);
}

void launch_add(const float* a, const float* b, int64_t num_elements, float* out,
                gpu::Stream stream) {
  if (num_elements == 0) return;
  add_kernel<<<blocks_for(num_elements, kThreads), kThreads, 0, stream>>>(a, b, num_elements, out);
}

void launch_gather_rows(const float* x, int64_t width, const int32_t* indices, int64_t num_rows,
                        float* out, gpu::Stream stream) {
  if (num_rows == 0) return;
  gather_rows_kernel<<<static_cast<unsigned>(num_rows), kThreads, 0, stream>>>(x, width, indices,
                                                                               out);
}

void launch_rope_neox(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                      int64_t head_dim, int64_t rotary_dim, const float* inv_freq,
                      gpu::Stream stream) {
  if (num_tokens == 0 || rotary_dim < 2) return;
  rope_neox_kernel<<<static_cast<unsigned>(num_tokens), kThreads, 0, stream>>>(
      x, positions, num_heads, head_dim, rotary_dim / 2, inv_freq);
}

}  // namespace mm::cuda
