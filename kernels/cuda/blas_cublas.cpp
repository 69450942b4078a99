// gpu::Blas on cuBLAS (the CUDA build).
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/gpu_blas.h"

namespace mm::gpu {
namespace {

void check_blas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS: ") + call + ": " + cublasGetStatusString(status));
}

}  // namespace

Blas::Blas(Stream stream) : stream_(stream) {
  cublasHandle_t handle = nullptr;
  check_blas(cublasCreate(&handle), "cublasCreate");
  handle_ = handle;
  check_blas(cublasSetStream(handle, stream_), "cublasSetStream");
  // Full f32 products: TF32 would round the inputs to 10 mantissa bits.
  check_blas(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
}

Blas::~Blas() {
  if (handle_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

void Blas::gemm_xwt(const float* w, int64_t n, int64_t k, const float* x, int64_t m, float* y,
                    int64_t ldy) {
  // y [m, ldy] row-major is column-major [ldy, m]: y = op(W [k, n] col-major)ᵀ · x [k, m].
  const float one = 1.0f, zero = 0.0f;
  check_blas(cublasSgemm(static_cast<cublasHandle_t>(handle_), CUBLAS_OP_T, CUBLAS_OP_N,
                         static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, w,
                         static_cast<int>(k), x, static_cast<int>(k), &zero, y,
                         static_cast<int>(ldy)),
             "cublasSgemm");
}

}  // namespace mm::gpu
