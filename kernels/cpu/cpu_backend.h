// The CPU backend: the reference every test runs, multithreaded (ThreadPool over all cores)
// and SIMD (AVX2/FMA/F16C chosen at run time, scalar fallback). Owned and called by one model
// runner thread; not thread-safe.
#pragma once

#include <memory>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/thread_pool.h"

namespace mm {

class CpuBackend final : public Backend {
 public:
  // num_threads 0 = one per hardware thread.
  // numerics: what the linear and MoE kernels compute (cpu_features.h).
  explicit CpuBackend(int num_threads = 0, CpuIsa isa = detected_cpu_isa(),
                      CpuNumerics numerics = CpuNumerics::kExact);

  std::string_view name() const override { return "cpu"; }
  std::unique_ptr<Buffer> allocate(size_t num_bytes) override;
  bool buffers_are_host_memory() const override { return true; }
  void copy_to_backend(void* dst, const void* src, size_t num_bytes) override;
  void copy_to_host(void* dst, const void* src, size_t num_bytes) override;
  CpuIsa isa() const { return isa_; }
  CpuNumerics numerics() const { return numerics_; }
  int num_threads() const { return pool_.num_threads(); }

  void embedding(const uint16_t* table, int64_t vocab, int64_t hidden, const int32_t* ids,
                 int64_t num_tokens, float* out) override;
  void rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width, float eps,
                float* out) override;
  void rope_neox(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                 int64_t head_dim, int64_t rotary_dim, double theta) override;
  // INT4 weights under fast numerics on AVX-512 VNNI become row tiles (int4_row_tiles.h);
  // everything else is read where it is.
  void make_resident(PackedLinear& w) override;
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

 private:
  // The ISA the kernels of one weight format run on: isa_, except that the INT8 kernels (fast
  // numerics) run the AVX-VNNI (ymm) ones on an AVX-512 VNNI core that has AVX-VNNI too: they
  // were faster there (bench/RESULTS.md, linear_bench, 2026-12-01, Xeon: W8A16 at 16 tokens
  // 753 vs 907 µs). INT4 takes the AVX-512 row-tile kernel, FP8 and BF16 their zmm kernels.
  CpuIsa kernel_isa(PackedFormat format) const;

  CpuIsa isa_;
  CpuNumerics numerics_;
  bool int8dot_on_ymm_ = false;
  ThreadPool pool_;
};

}  // namespace mm
