// Linear layers in every packed format: a warp-per-output GEMV for decode-sized batches (any
// format; W8A8 with int8 activations and an exact int32 dot), and a row dequantizer that lets
// the backend hand larger batches to cuBLAS SGEMM (cuda_backend.cpp). Weights are read in
// the kernel layout of packed_linear.h; the tensor-core W4A16 / FP8 GEMMs of issue 9 replace
// these for speed.
#include "kernels/cuda/device_math.cuh"

namespace mm::cuda {
namespace {

// Four warps per block (one output row each): 128 threads on NVIDIA / RDNA, 256 on CDNA, the
// smallest block that keeps every SM / CU scheduler fed with warps.
constexpr int kRowsPerBlock = 4;  // one warp per output row
// Each weight element is read once per four tokens: enough reuse for decode batches while the
// four accumulators stay in registers.
constexpr int kTokenTile = 4;     // tokens sharing one pass over a weight row

__global__ void quantize_rows_int8_kernel(const float* x, int64_t width, int8_t* xq,
                                          float* x_scales) {
  const int64_t r = blockIdx.x;
  const float* row = x + r * width;
  __shared__ float partial[256 / kWarp];  // launched with 256 threads
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
    amax = fmaxf(amax, fabsf(row[i]));
  amax = warp_max(amax);
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = amax;
  __syncthreads();
  amax = 0.0f;
  for (int w = 0; w < static_cast<int>(blockDim.x) / kWarp; ++w)
    amax = fmaxf(amax, partial[w]);
  int8_t* dst = xq + r * width;
  if (amax == 0.0f) {
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x)
      dst[i] = 0;
    if (threadIdx.x == 0) x_scales[r] = 1.0f;
    return;
  }
  // Multiply by the reciprocal and round half to even, as the CPU (and vLLM) do.
  const float inv = __fdiv_rn(127.0f, amax);
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
    const float q = rintf(__fmul_rn(row[i], inv));
    dst[i] = static_cast<int8_t>(fminf(fmaxf(q, -128.0f), 127.0f));
  }
  if (threadIdx.x == 0) x_scales[r] = __fdiv_rn(amax, 127.0f);
}

// Where a GEMV warp works: its lane, its output row n (block y, warp), and its tile of tokens
// [m0, m0 + tile) (block x).
struct GemvPlace {
  int lane;
  int64_t n, m0, tile;
  __device__ explicit GemvPlace(int64_t num_tokens)
      : lane(static_cast<int>(threadIdx.x) % kWarp),
        n(static_cast<int64_t>(blockIdx.y) * kRowsPerBlock +
          static_cast<int64_t>(threadIdx.x) / kWarp),
        m0(static_cast<int64_t>(blockIdx.x) * kTokenTile),
        tile(min(static_cast<int64_t>(kTokenTile), num_tokens - m0)) {}
};

__global__ void __launch_bounds__(kRowsPerBlock* kMaxWarp)
    gemv_kernel(DeviceLinear w, const float* x, int64_t num_tokens, float* y) {
  const GemvPlace at(num_tokens);
  if (at.n >= w.num_rows) return;  // warp-uniform: the whole warp has this row
  const int lane = at.lane;
  const int64_t n = at.n, m0 = at.m0, tile = at.tile, cols = w.num_cols;
  float acc[kTokenTile] = {};
  for (int64_t k = lane; k < cols; k += kWarp) {
    const float wv = weight_at(w, n, k);
    const int64_t col = w.col_perm != nullptr ? w.col_perm[k] : k;
#pragma unroll
    for (int i = 0; i < kTokenTile; ++i) {
      if (i < tile) acc[i] += wv * x[(m0 + i) * cols + col];
    }
  }
#pragma unroll
  for (int i = 0; i < kTokenTile; ++i) {
    const float total = warp_sum(acc[i]);
    if (lane == 0 && i < tile) y[(m0 + i) * w.num_rows + n] = total;
  }
}

// W8A8: int8 weights [N, K] against int8 activations, int32 accumulation (exact, so the
// order of the sum does not matter), y = (acc · sa) · sw as the CPU.
__global__ void __launch_bounds__(kRowsPerBlock* kMaxWarp)
    gemv_int8_kernel(DeviceLinear w, const int8_t* xq, const float* x_scales, int64_t num_tokens,
                     float* y) {
  const GemvPlace at(num_tokens);
  if (at.n >= w.num_rows) return;  // warp-uniform: the whole warp has this row
  const int lane = at.lane;
  const int64_t n = at.n, m0 = at.m0, tile = at.tile, cols = w.num_cols;
  const auto* row = reinterpret_cast<const int8_t*>(w.data) + n * cols;
  int acc[kTokenTile] = {};
  for (int64_t k = lane; k < cols; k += kWarp) {
    const int wv = row[k];
#pragma unroll
    for (int i = 0; i < kTokenTile; ++i) {
      if (i < tile) acc[i] += wv * static_cast<int>(xq[(m0 + i) * cols + k]);
    }
  }
#pragma unroll
  for (int i = 0; i < kTokenTile; ++i) {
    const int total = warp_sum_int(acc[i]);
    if (lane == 0 && i < tile) {
      y[(m0 + i) * w.num_rows + n] =
          __fmul_rn(__fmul_rn(static_cast<float>(total), x_scales[m0 + i]), w.scales[n]);
    }
  }
}

__global__ void dequantize_rows_kernel(DeviceLinear w, int64_t row_begin, float* out) {
  const int64_t r = blockIdx.x;
  const int64_t n = row_begin + r;
  for (int64_t k = threadIdx.x; k < w.num_cols; k += blockDim.x) {
    const int64_t col = w.col_perm != nullptr ? w.col_perm[k] : k;
    out[r * w.num_cols + col] = weight_at(w, n, k);
  }
}

}  // namespace

void launch_quantize_rows_int8(const float* x, int64_t num_rows, int64_t width, int8_t* xq,
                               float* x_scales, gpu::Stream stream) {
  if (num_rows == 0) return;
  quantize_rows_int8_kernel<<<static_cast<unsigned>(num_rows), 256, 0, stream>>>(x, width, xq,
                                                                                 x_scales);
}

void launch_linear_gemv(const DeviceLinear& w, const float* x, const int8_t* xq,
                        const float* x_scales, int64_t num_tokens, float* y, int warp,
                        gpu::Stream stream) {
  if (num_tokens == 0 || w.num_rows == 0) return;
  // Token tiles in x (up to 2³¹ − 1 blocks), rows in y (65,535 blocks: 262,140 rows).
  const dim3 grid(blocks_for(num_tokens, kTokenTile), blocks_for(w.num_rows, kRowsPerBlock));
  if (w.format == PackedFormat::kInt8Channel && w.int8_activations) {
    gemv_int8_kernel<<<grid, kRowsPerBlock * warp, 0, stream>>>(w, xq, x_scales, num_tokens, y);
  } else {
    gemv_kernel<<<grid, kRowsPerBlock * warp, 0, stream>>>(w, x, num_tokens, y);
  }
}

void launch_dequantize_rows(const DeviceLinear& w, int64_t row_begin, int64_t num_rows, float* out,
                            gpu::Stream stream) {
  if (num_rows == 0) return;
  dequantize_rows_kernel<<<static_cast<unsigned>(num_rows), 256, 0, stream>>>(w, row_begin, out);
}

}  // namespace mm::cuda
