// y = x · wᵀ in f32 for the prefill-sized linears on a platform without a vendor BLAS (HIP
// from Debian 12: no rocBLAS or hipBLAS packages). Shared-memory tiles, f32 accumulation in
// ascending k with plain multiply-adds; correct and portable rather than fast — the tensor-core
// / matrix-core GEMMs replace it.
#include "kernels/cuda/device_math.cuh"

namespace mm::cuda {
namespace {

// 16 × 16 outputs per block, one per thread (256 threads: a whole number of warps on every
// target), each staged x and w element reused 16 times from shared memory (2 KiB per block).
constexpr int kTile = 16;

__global__ void __launch_bounds__(kTile* kTile)
    sgemm_xwt_kernel(const float* w, int64_t n, int64_t k, const float* x, int64_t m, float* y,
                     int64_t ldy) {
  __shared__ float xs[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
  __shared__ float ws[kTile][kTile + 1];
  const int tx = static_cast<int>(threadIdx.x) % kTile;
  const int ty = static_cast<int>(threadIdx.x) / kTile;
  const int64_t row = static_cast<int64_t>(blockIdx.y) * kTile + ty;  // of x and y
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kTile + tx;  // of y (a row of w)
  const int64_t w_row = static_cast<int64_t>(blockIdx.x) * kTile + ty;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    const int64_t kk = k0 + tx;
    xs[ty][tx] = row < m && kk < k ? x[row * k + kk] : 0.0f;
    ws[ty][tx] = w_row < n && kk < k ? w[w_row * k + kk] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kTile; ++i)
      acc += xs[ty][i] * ws[tx][i];
    __syncthreads();
  }
  if (row < m && col < n) y[row * ldy + col] = acc;
}

}  // namespace

void launch_sgemm_xwt(const float* w, int64_t n, int64_t k, const float* x, int64_t m, float* y,
                      int64_t ldy, gpu::Stream stream) {
  if (m == 0 || n == 0) return;
  const dim3 grid(blocks_for(n, kTile), blocks_for(m, kTile));
  sgemm_xwt_kernel<<<grid, kTile * kTile, 0, stream>>>(w, n, k, x, m, y, ldy);
}

}  // namespace mm::cuda
