// The GPU backend: every Backend op on one device and one stream, weights resident in device
// memory (make_resident copies each packed weight once and frees its host copy). One source
// for both platforms: built by nvcc as the CUDA backend (`--device cuda`, MMD_CUDA) and by
// hipcc as the HIP backend (`--device hip`, MMD_HIP) through kernels/cuda/gpu_runtime.h.
// Numerics follow the CPU backend (f32 activations, f32 accumulation, f64 norm sums, exact
// W8A8); results differ from it in the order of f32 additions and in the compiler contracting
// the dot products' multiply-adds into FMAs (tests/unit/backends bounds both).
// Owned and called by one model runner thread; not thread-safe.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace mm {

class GpuBackend final : public Backend {
 public:
  // Number of devices of this platform the process sees (0 without a driver or a GPU).
  static int device_count();
  // Throws std::runtime_error naming the runtime call that failed (no device, out of memory).
  explicit GpuBackend(int device = 0);
  ~GpuBackend() override;
  GpuBackend(const GpuBackend&) = delete;
  GpuBackend& operator=(const GpuBackend&) = delete;

  // "cuda" or "hip": the platform this source was compiled for.
  std::string_view name() const override;
  std::unique_ptr<Buffer> allocate(size_t num_bytes) override;
  void copy_to_backend(void* dst, const void* src, size_t num_bytes) override;
  void copy_to_host(void* dst, const void* src, size_t num_bytes) override;
  void make_resident(PackedLinear& w) override;
  void make_resident(MoeWeights& experts) override;

  void embedding(const uint16_t* table, int64_t vocab, int64_t hidden, const int32_t* ids,
                 int64_t num_tokens, float* out) override;
  void rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width, float eps,
                float* out) override;
  void rope_neox(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                 int64_t head_dim, int64_t rotary_dim, double theta) override;
  void linear(const PackedLinear& w, const float* x, int64_t num_tokens, float* y) override;
  void kv_write(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                const float* v) override;
  void paged_attention(const KvLayerView& cache, const AttentionMetadata& meta, const float* q,
                       int64_t num_heads, float* out) override;
  void router_topk(const float* logits, const float* bias, int64_t num_tokens, int64_t num_experts,
                   int64_t top_k, int32_t* ids, float* weights) override;
  void moe(const MoeWeights& experts, const float* x, int64_t num_tokens, int64_t hidden,
           const int32_t* ids, const float* weights, int64_t top_k, float* out) override;
  void add(const float* a, const float* b, int64_t num_elements, float* out) override;
  void gather_rows(const float* x, int64_t width, const int32_t* indices, int64_t num_rows,
                   float* out) override;
  void sum_squares(const float* x, int64_t num_rows, int64_t width, double scale,
                   float* sums) override;
  void rms_norm_with_sums(const float* x, const float* gain, const float* sums, int64_t num_rows,
                          int64_t width, int64_t full_width, float eps, float* out) override;

  void synchronize() override;

 private:
  struct Impl;
  void enter();  // makes this backend's device current on the calling thread
  // A gpu::CopyKind (as int: this header stays free of the runtime's), waited for.
  void copy(void* dst, const void* src, size_t num_bytes, int direction);
  // Device scratch of at least num_bytes for `slot`, kept between calls (grown on demand).
  void* scratch(int slot, size_t num_bytes);

  std::unique_ptr<Impl> impl_;
};

}  // namespace mm
