// The CPU implementations of the Backend ops other than linear (see kernels/backend.h for the
// argument contracts). Free functions so tests can call them directly; each parallel op takes
// the pool it may use. Callers: the CPU backend on the runner thread.
#pragma once

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/thread_pool.h"

namespace mm {

// embedding.cpp
void embedding_cpu(const uint16_t* table, int64_t vocab, int64_t hidden, const int32_t* ids,
                   int64_t num_tokens, float* out);

// norm.cpp: x, out f32 [num_rows, width] (may alias), gain f32 [width].
void rms_norm_cpu(ThreadPool& pool, const float* x, const float* gain, int64_t num_rows,
                  int64_t width, float eps, float* out);
void add_cpu(const float* a, const float* b, int64_t num_elements, float* out);
// The two halves of a sharded RMSNorm (Backend::sum_squares / rms_norm_with_sums).
void sum_squares_cpu(const float* x, int64_t num_rows, int64_t width, double scale, float* sums);
void rms_norm_with_sums_cpu(const float* x, const float* gain, const float* sums, int64_t num_rows,
                            int64_t width, int64_t full_width, float eps, float* out);

// rope.cpp
void rope_neox_cpu(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                   int64_t head_dim, int64_t rotary_dim, double theta);

// attention.cpp
void kv_write_cpu(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                  const float* v);
void paged_attention_cpu(ThreadPool& pool, const KvLayerView& cache, const AttentionMetadata& meta,
                         const float* q, int64_t num_heads, float* out);

// moe.cpp
void router_topk_cpu(const float* logits, const float* bias, int64_t num_tokens,
                     int64_t num_experts, int64_t top_k, int32_t* ids, float* weights);
void moe_cpu(ThreadPool& pool, CpuIsa isa, const MoeWeights& experts, const float* x,
             int64_t num_tokens, int64_t hidden, const int32_t* ids, const float* weights,
             int64_t top_k, float* out, CpuNumerics numerics = CpuNumerics::kExact);
// gate, up, out: f32 [num_elements]; out = silu(gate) ⊙ up (out may alias either input).
void swiglu_cpu(const float* gate, const float* up, int64_t num_elements, float* out);

}  // namespace mm
