// The one BLAS call the GPU backend makes, behind a platform-neutral interface: cuBLAS on CUDA
// (blas_cublas.cpp), the portable tiled kernel of sgemm.cu where Debian packages no vendor
// BLAS (HIP: blas_tiled.cpp). The build links exactly one of them.
#pragma once

#include <cstdint>

#include "kernels/cuda/gpu_runtime.h"

namespace mm::gpu {

class Blas {
 public:
  // Queues on `stream`; throws std::runtime_error naming the library call that failed.
  explicit Blas(Stream stream);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  // y[i, j] = Σ_k x[i, k] · w[j, k] for i < m, j < n: row-major f32 in device memory, rows of y
  // `ldy` floats apart (a slice of a wider output). Full f32 products (no TF32).
  void gemm_xwt(const float* w, int64_t n, int64_t k, const float* x, int64_t m, float* y,
                int64_t ldy);

 private:
  Stream stream_;
  void* handle_ = nullptr;  // the library's handle, where it has one
};

}  // namespace mm::gpu
