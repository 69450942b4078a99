#include "kernels/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/int4_row_tiles.h"
#include "kernels/cpu/linear.h"

namespace mm {
namespace {

// 64 bytes: one cache line, and a multiple of every SIMD width the kernels use.
constexpr size_t kBufferAlignment = 64;

// From this size on, buffers are anonymous mappings: zero pages the kernel commits on first
// write and takes back on discard() (MADV_DONTNEED), which is what lets the KV pool grow and
// shrink without moving any block.
constexpr size_t kMappedBufferBytes = size_t{1} << 20;

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t num_bytes) : num_bytes_(num_bytes) {
    if (num_bytes >= kMappedBufferBytes) {
      void* mapping = ::mmap(nullptr, num_bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mapping == MAP_FAILED) throw std::bad_alloc();
      data_ = mapping;
      mapped_ = true;
      return;
    }
    const size_t rounded = (num_bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    data_ = std::aligned_alloc(kBufferAlignment, rounded == 0 ? kBufferAlignment : rounded);
    if (data_ == nullptr) throw std::bad_alloc();
    std::memset(data_, 0, rounded == 0 ? kBufferAlignment : rounded);
  }
  ~HostBuffer() override {
    if (mapped_) {
      ::munmap(data_, num_bytes_);
    } else {
      std::free(data_);
    }
  }
  size_t discard(size_t offset, size_t num_bytes) override {
    if (!mapped_ || offset >= num_bytes_) return 0;
    num_bytes = std::min(num_bytes, num_bytes_ - offset);
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const auto base = reinterpret_cast<uintptr_t>(data_);
    const uintptr_t first = (base + offset + page - 1) / page * page;
    const uintptr_t last = (base + offset + num_bytes) / page * page;
    if (last <= first) return 0;
    ::madvise(static_cast<std::byte*>(data_) + (first - base), last - first, MADV_DONTNEED);
    return last - first;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  void* data() override { return data_; }
  size_t num_bytes() const override { return num_bytes_; }

 private:
  void* data_ = nullptr;
  size_t num_bytes_ = 0;
  bool mapped_ = false;
};

}  // namespace

CpuBackend::CpuBackend(int num_threads, CpuIsa isa, CpuNumerics numerics)
    : isa_(isa),
      numerics_(numerics),
      int8dot_on_ymm_(isa == CpuIsa::kAvx512Vnni && cpu_supports(CpuIsa::kAvxVnni)),
      pool_(num_threads) {}

CpuIsa CpuBackend::kernel_isa(PackedFormat format) const {
  const bool int8 = format == PackedFormat::kInt8Channel;
  return int8 && int8dot_on_ymm_ && numerics_ == CpuNumerics::kFast ? CpuIsa::kAvxVnni : isa_;
}

void CpuBackend::make_resident(PackedLinear& w) {
  if (numerics_ == CpuNumerics::kFast && isa_ == CpuIsa::kAvx512Vnni && int4_tiles_fit(w))
    make_int4_tiles_resident(w);
}

std::unique_ptr<Buffer> CpuBackend::allocate(size_t num_bytes) {
  return std::make_unique<HostBuffer>(num_bytes);
}

void CpuBackend::copy_to_backend(void* dst, const void* src, size_t num_bytes) {
  if (num_bytes > 0) std::memcpy(dst, src, num_bytes);
}

void CpuBackend::copy_to_host(void* dst, const void* src, size_t num_bytes) {
  if (num_bytes > 0) std::memcpy(dst, src, num_bytes);
}

void CpuBackend::embedding(const uint16_t* table, int64_t vocab, int64_t hidden, const int32_t* ids,
                           int64_t num_tokens, float* out) {
  embedding_cpu(table, vocab, hidden, ids, num_tokens, out);
}

void CpuBackend::rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width,
                          float eps, float* out) {
  rms_norm_cpu(pool_, x, gain, num_rows, width, eps, out);
}

void CpuBackend::rope_neox(float* x, const int32_t* positions, int64_t num_tokens,
                           int64_t num_heads, int64_t head_dim, int64_t rotary_dim, double theta) {
  rope_neox_cpu(x, positions, num_tokens, num_heads, head_dim, rotary_dim, theta);
}

void CpuBackend::linear(const PackedLinear& w, const float* x, int64_t num_tokens, float* y) {
  linear_cpu(pool_, kernel_isa(w.format), w, x, num_tokens, y, numerics_);
}

void CpuBackend::kv_write(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                          const float* v) {
  kv_write_cpu(cache, meta, k, v);
}

void CpuBackend::paged_attention(const KvLayerView& cache, const AttentionMetadata& meta,
                                 const float* q, int64_t num_heads, float* out) {
  paged_attention_cpu(pool_, cache, meta, q, num_heads, out);
}

void CpuBackend::router_topk(const float* logits, const float* bias, int64_t num_tokens,
                             int64_t num_experts, int64_t top_k, int32_t* ids, float* weights) {
  router_topk_cpu(logits, bias, num_tokens, num_experts, top_k, ids, weights);
}

void CpuBackend::moe(const MoeWeights& experts, const float* x, int64_t num_tokens, int64_t hidden,
                     const int32_t* ids, const float* weights, int64_t top_k, float* out) {
  const CpuIsa isa = experts.w1.empty() ? isa_ : kernel_isa(experts.w1.front().format);
  moe_cpu(pool_, isa, experts, x, num_tokens, hidden, ids, weights, top_k, out, numerics_);
}

void CpuBackend::add(const float* a, const float* b, int64_t num_elements, float* out) {
  add_cpu(a, b, num_elements, out);
}

void CpuBackend::gather_rows(const float* x, int64_t width, const int32_t* indices,
                             int64_t num_rows, float* out) {
  for (int64_t r = 0; r < num_rows; ++r)
    std::memcpy(out + r * width, x + static_cast<int64_t>(indices[r]) * width,
                static_cast<size_t>(width) * sizeof(float));
}

void CpuBackend::sum_squares(const float* x, int64_t num_rows, int64_t width, double scale,
                             float* sums) {
  sum_squares_cpu(x, num_rows, width, scale, sums);
}

void CpuBackend::rms_norm_with_sums(const float* x, const float* gain, const float* sums,
                                    int64_t num_rows, int64_t width, int64_t full_width, float eps,
                                    float* out) {
  rms_norm_with_sums_cpu(x, gain, sums, num_rows, width, full_width, eps, out);
}

}  // namespace mm
