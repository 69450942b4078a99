// gpu::Blas on the portable tiled kernel (sgemm.cu), for platforms whose vendor BLAS Debian
// does not package (HIP: rocBLAS / hipBLAS are not in Debian 12).
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/gpu_blas.h"

namespace mm::gpu {

Blas::Blas(Stream stream) : stream_(stream) {}

Blas::~Blas() = default;

void Blas::gemm_xwt(const float* w, int64_t n, int64_t k, const float* x, int64_t m, float* y,
                    int64_t ldy) {
  cuda::launch_sgemm_xwt(w, n, k, x, m, y, ldy, stream_);
  check(get_last_error(), "sgemm_xwt");
}

}  // namespace mm::gpu
