// The compute interface every backend (cpu; cuda and hip, from one GPU source) implements:
// buffers and the ops of the MiniMax-M2 forward (specs/minimax-m2.md §3). The CPU backend is the
// reference.
//
// Conventions for every op: tensors are dense row-major, shapes are written outer to inner
// (`[num_tokens, hidden]`), activations are f32, and every pointer an op takes — activations,
// ids, positions, metadata, gains — is the backend's own memory (inside a Buffer it allocated;
// host memory for the CPU backend, device memory for a GPU backend). Host data reaches it
// through copy_to_backend / upload, and results come back through copy_to_host. Weights are
// PackedLinear values made resident once at load (make_resident). Ops are called from the
// model runner's thread only; a backend runs them in order (a GPU backend on one stream) and
// may use its own worker threads inside an op.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "kernels/packed_linear.h"

namespace mm {

// Backend memory: an allocation the backend owns (64-byte aligned on the CPU), zero-filled
// when allocated. Large buffers are reserved, not committed: memory is taken as it is first
// written, so a KV cache sized for its cap costs only what is used.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t num_bytes() const = 0;
  float* f32() { return static_cast<float*>(data()); }
  // The bytes [offset, offset + num_bytes) are no longer needed: the backend may give their
  // memory back (whole pages inside the range); they read as zeros afterwards. Returns the
  // number of bytes given back.
  virtual size_t discard(size_t offset, size_t num_bytes) = 0;
};

enum class KvDType : uint8_t {
  kF32,      // exact; for tests
  kBf16,     // the HF/vLLM default
  kFp8E4M3,  // written sat(x / scale) with RNE, read as code · scale (quant-formats §3)
};
std::string_view kv_dtype_name(KvDType dtype);
int kv_dtype_bytes(KvDType dtype);

// One layer's paged KV storage: k and v are [num_blocks, block_size, num_kv_heads, head_dim]
// of `dtype`. A slot is block · block_size + offset.
struct KvLayerView {
  KvDType dtype = KvDType::kBf16;
  void* k = nullptr;
  void* v = nullptr;
  int64_t num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  float k_scale = 1.0f;  // FP8 only: the checkpoint's per-layer scale, 1.0 when absent
  float v_scale = 1.0f;
};

// The attention part of a flat batch: token i belongs to sequence seq_of_token[i] and sits at
// absolute position positions[i]; it attends to positions 0..positions[i] of its sequence,
// found through that sequence's block table (which must already hold every earlier position).
struct AttentionMetadata {
  int64_t num_tokens = 0;
  const int32_t* positions = nullptr;     // [num_tokens]
  const int32_t* seq_of_token = nullptr;  // [num_tokens]
  const int64_t* slot_mapping = nullptr;  // [num_tokens]: where token i's k/v are written
  const int32_t* block_tables = nullptr;  // [num_seqs, max_num_blocks_per_seq] block ids
  int64_t max_num_blocks_per_seq = 0;
};

// One MoE layer's experts, stacked per layer and indexed by expert id: w1[e] (gate) and w3[e]
// (up) are [intermediate, hidden], w2[e] (down) is [hidden, intermediate]. Gate and up stay
// separate Linears because activation-ordered int4 gives each its own column permutation.
struct MoeWeights {
  std::vector<PackedLinear> w1;
  std::vector<PackedLinear> w3;
  std::vector<PackedLinear> w2;
  int64_t intermediate_size = 0;
  // Set by Backend::make_resident(MoeWeights&) on a backend that keeps a per-layer expert table
  // in its own memory (null on the CPU).
  std::shared_ptr<const ResidentWeights> resident;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual std::unique_ptr<Buffer> allocate(size_t num_bytes) = 0;
  // Its Buffers are host memory that the host may read and write directly once synchronize()
  // returned (the CPU backend): a result can be used where it lies instead of copied out.
  virtual bool buffers_are_host_memory() const { return false; }

  // Returns when every op queued so far has finished (a no-op where ops run synchronously).
  // Work queued elsewhere on the same memory — a collective on its own stream — must wait for it.
  virtual void synchronize() {}
  // Host ↔ backend memory; `dst` / `src` on the backend side point into one of its Buffers.
  // Both return when the copy is complete (a GPU backend waits for the work queued before it).
  virtual void copy_to_backend(void* dst, const void* src, size_t num_bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t num_bytes) = 0;
  // A new Buffer holding a copy of the host bytes.
  std::unique_ptr<Buffer> upload(const void* src, size_t num_bytes);
  // Makes a packed weight readable by this backend's kernels, once, at load. The CPU backend
  // reads the host vectors as they are, except INT4 under fast numerics on AVX-512 VNNI, which
  // it repacks into row tiles (`w.resident`, the row data freed); a GPU backend copies them to
  // device memory, sets `w.resident` and frees the host vectors.
  virtual void make_resident(PackedLinear& w) { (void)w; }
  // Every expert of a layer, after the expert weights themselves were made resident.
  virtual void make_resident(MoeWeights& experts) { (void)experts; }

  // table: bf16 bits [vocab, hidden]; ids: [num_tokens]; out: f32 [num_tokens, hidden].
  virtual void embedding(const uint16_t* table, int64_t vocab, int64_t hidden, const int32_t* ids,
                         int64_t num_tokens, float* out) = 0;
  // x, out: f32 [num_rows, width] (may alias); gain: f32 [width]. out = gain ⊙ x / rms(x).
  virtual void rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width,
                        float eps, float* out) = 0;
  // x: f32 [num_tokens, num_heads, head_dim], rotated in place; positions: [num_tokens].
  // Pairs (i, i + rotary_dim/2) for i < rotary_dim/2; dims ≥ rotary_dim pass through.
  virtual void rope_neox(float* x, const int32_t* positions, int64_t num_tokens, int64_t num_heads,
                         int64_t head_dim, int64_t rotary_dim, double theta) = 0;
  // x: f32 [num_tokens, w.num_cols]; y: f32 [num_tokens, w.num_rows].
  virtual void linear(const PackedLinear& w, const float* x, int64_t num_tokens, float* y) = 0;
  // k, v: f32 [num_tokens, num_kv_heads, head_dim] → cache slots meta.slot_mapping.
  virtual void kv_write(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                        const float* v) = 0;
  // q: f32 [num_tokens, num_heads, head_dim] (normed, rotated); out: same shape. Query head h
  // uses kv head h / (num_heads / num_kv_heads); scores scaled by head_dim^-1/2; fp32 softmax.
  virtual void paged_attention(const KvLayerView& cache, const AttentionMetadata& meta,
                               const float* q, int64_t num_heads, float* out) = 0;
  // logits: f32 [num_tokens, num_experts]; bias: f32 [num_experts] or null.
  // ids: [num_tokens, top_k] ascending by selection rank; weights: f32 [num_tokens, top_k].
  virtual void router_topk(const float* logits, const float* bias, int64_t num_tokens,
                           int64_t num_experts, int64_t top_k, int32_t* ids, float* weights) = 0;
  // x: f32 [num_tokens, hidden]; out: f32 [num_tokens, hidden] = Σ_j weights[t, j] ·
  // expert_{ids[t, j]}(x[t]), accumulated in fp32 in ascending expert order.
  virtual void moe(const MoeWeights& experts, const float* x, int64_t num_tokens, int64_t hidden,
                   const int32_t* ids, const float* weights, int64_t top_k, float* out) = 0;
  // out[i] = a[i] + b[i] over num_elements f32 (out may alias a).
  virtual void add(const float* a, const float* b, int64_t num_elements, float* out) = 0;
  // x: f32 [*, width]; indices: [num_rows]; out: f32 [num_rows, width], row r = x[indices[r]].
  virtual void gather_rows(const float* x, int64_t width, const int32_t* indices, int64_t num_rows,
                           float* out) = 0;
  // The full-width q/k norm of a tensor-parallel rank, whose heads are a slice of the row:
  // sums[r] = scale · Σ x[r, i]² (accumulated in f64, stored f32) over the slice; after the
  // ranks have summed their `sums`, out = gain ⊙ (x · 1/sqrt(sums[r] / full_width + eps)) in
  // f32. x, out: [num_rows, width] (may alias).
  virtual void sum_squares(const float* x, int64_t num_rows, int64_t width, double scale,
                           float* sums) = 0;
  virtual void rms_norm_with_sums(const float* x, const float* gain, const float* sums,
                                  int64_t num_rows, int64_t width, int64_t full_width, float eps,
                                  float* out) = 0;
};

}  // namespace mm
