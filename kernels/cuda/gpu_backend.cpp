#include "kernels/cuda/gpu_backend.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/gpu_blas.h"
#include "kernels/cuda/gpu_runtime.h"

namespace mm {
namespace {

using cuda::DeviceLinear;
using cuda::DeviceMoe;

using gpu::check;

// A kernel launch reports a bad configuration only through the last-error state.
void check_launch(const char* kernel) {
  check(gpu::get_last_error(), kernel);
}

// One device allocation, freed when dropped.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t num_bytes) : num_bytes_(num_bytes) {
    if (num_bytes > 0) check(gpu::malloc_device(&data_, num_bytes), "malloc");
  }
  ~DeviceMemory() {
    // A destructor cannot report; a failed free leaves nothing to recover.
    if (data_ != nullptr) static_cast<void>(gpu::free_device(data_));
  }
  DeviceMemory(DeviceMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        num_bytes_(std::exchange(other.num_bytes_, 0)) {}
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(num_bytes_, other.num_bytes_);
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* data() const { return data_; }
  size_t num_bytes() const { return num_bytes_; }

 private:
  void* data_ = nullptr;
  size_t num_bytes_ = 0;
};

class GpuBuffer final : public Buffer {
 public:
  GpuBuffer(size_t num_bytes, gpu::Stream stream) : memory_(num_bytes), stream_(stream) {
    if (num_bytes > 0) {
      check(gpu::memset_async(memory_.data(), 0, num_bytes, stream_), "memset");
      check(gpu::stream_synchronize(stream_), "stream synchronize");
    }
  }
  void* data() override { return memory_.data(); }
  size_t num_bytes() const override { return memory_.num_bytes(); }
  // Device allocations cannot return pages: the range is zeroed, nothing is given back (the
  // expandable VMM pool of issue 9 will unmap whole chunks instead).
  size_t discard(size_t offset, size_t num_bytes) override {
    if (offset >= memory_.num_bytes()) return 0;
    num_bytes = std::min(num_bytes, memory_.num_bytes() - offset);
    check(gpu::memset_async(static_cast<char*>(memory_.data()) + offset, 0, num_bytes, stream_),
          "memset");
    return 0;
  }

 private:
  DeviceMemory memory_;
  gpu::Stream stream_;
};

template <class T>
DeviceMemory upload_vector(const std::vector<T>& values) {
  DeviceMemory memory(values.size() * sizeof(T));
  if (!values.empty()) {
    // The null stream: a weight upload completes before anything that reads it is queued.
    check(gpu::memcpy_async(memory.data(), values.data(), memory.num_bytes(),
                            gpu::CopyKind::kHostToDevice, nullptr),
          "memcpy (weights)");
    check(gpu::stream_synchronize(nullptr), "stream synchronize (weights)");
  }
  return memory;
}

template <class T>
void release(std::vector<T>& values) {
  std::vector<T>().swap(values);
}

struct GpuLinear final : ResidentWeights {
  DeviceLinear view;
  std::vector<DeviceMemory> memory;
  uint64_t bytes = 0;
  uint64_t num_bytes() const override { return bytes; }
};

struct GpuMoe final : ResidentWeights {
  DeviceMoe view;
  DeviceMemory w1, w3, w2;
  // The experts' own device copies, which the view's tables point into.
  std::vector<std::shared_ptr<const ResidentWeights>> experts;
  uint64_t num_bytes() const override { return w1.num_bytes() + w3.num_bytes() + w2.num_bytes(); }
};

const DeviceLinear& device_view(const PackedLinear& w) {
  const auto* resident = dynamic_cast<const GpuLinear*>(w.resident.get());
  if (resident == nullptr) {
    throw std::logic_error(std::string(gpu::kPlatform) + " backend: " "weight '" + w.name +
                           "' was not made resident on the device");
  }
  return resident->view;
}

enum ScratchSlot : int {
  kDequant,
  kXq,
  kXScales,
  kMoeHidden,
  kMoeDown,
  kMoeXq,
  kMoeXScales,
  kMoeHq,
  kMoeHScales,
  kNumScratch
};

// Batches up to this many tokens take the GEMV kernel (the weight read dominates up to about
// there); larger ones dequantize row chunks of at most kDequantChunkBytes (bounded scratch
// whatever the layer's size) and run the BLAS SGEMM on them.
constexpr int64_t kGemvMaxTokens = 16;
constexpr size_t kDequantChunkBytes = size_t{64} << 20;

}  // namespace

struct GpuBackend::Impl {
  int device = 0;
  int warp = 32;  // the device's warp width, for the launchers
  gpu::Stream stream = nullptr;
  std::unique_ptr<gpu::Blas> blas;
  DeviceMemory scratch[kNumScratch];
  // inv_freq per (rotary_dim, theta), computed on the host exactly as the CPU backend does.
  std::map<std::pair<int64_t, double>, DeviceMemory> inv_freq;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    // Teardown reports nothing: the device may already be lost.
    static_cast<void>(gpu::set_device(device));
    if (stream != nullptr) static_cast<void>(gpu::stream_synchronize(stream));
    inv_freq.clear();
    for (auto& memory : scratch)
      memory = DeviceMemory();
    blas.reset();
    if (stream != nullptr) static_cast<void>(gpu::stream_destroy(stream));
  }
};

int GpuBackend::device_count() {
  int count = 0;
  if (gpu::device_count(&count) != gpu::kSuccess) {
    static_cast<void>(gpu::get_last_error());  // clear the sticky "no driver" state
    return 0;
  }
  return count;
}

GpuBackend::GpuBackend(int device) : impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  check(gpu::set_device(device), "set device");
  check(gpu::warp_size(device, &impl_->warp), "warp size");
  check(gpu::stream_create(&impl_->stream), "stream create");
  impl_->blas = std::make_unique<gpu::Blas>(impl_->stream);
}

GpuBackend::~GpuBackend() = default;

std::string_view GpuBackend::name() const {
  return gpu::kBackendName;
}

void GpuBackend::enter() {
  // The device is per-thread state, and the runner may be built on another thread than the one
  // that runs it.
  check(gpu::set_device(impl_->device), "set device");
}

void GpuBackend::synchronize() {
  check(gpu::set_device(impl_->device), "set device");
  check(gpu::stream_synchronize(impl_->stream), "stream synchronize");
}

void* GpuBackend::scratch(int slot, size_t num_bytes) {
  DeviceMemory& memory = impl_->scratch[slot];
  if (memory.num_bytes() < num_bytes) {
    // The old region may still be read by queued kernels.
    check(gpu::stream_synchronize(impl_->stream), "stream synchronize");
    const size_t grown = std::max(num_bytes, memory.num_bytes() * 2);
    memory = DeviceMemory();
    memory = DeviceMemory(grown);
  }
  return memory.data();
}

std::unique_ptr<Buffer> GpuBackend::allocate(size_t num_bytes) {
  check(gpu::set_device(impl_->device), "set device");
  return std::make_unique<GpuBuffer>(num_bytes, impl_->stream);
}

void GpuBackend::copy(void* dst, const void* src, size_t num_bytes, int direction) {
  if (num_bytes == 0) return;
  enter();
  const auto kind = static_cast<gpu::CopyKind>(direction);
  check(gpu::memcpy_async(dst, src, num_bytes, kind, impl_->stream), "memcpy");
  // Both directions return complete: a host source may be reused, a host result read.
  check(gpu::stream_synchronize(impl_->stream), "stream synchronize");
}

void GpuBackend::copy_to_backend(void* dst, const void* src, size_t num_bytes) {
  copy(dst, src, num_bytes, static_cast<int>(gpu::CopyKind::kHostToDevice));
}

void GpuBackend::copy_to_host(void* dst, const void* src, size_t num_bytes) {
  copy(dst, src, num_bytes, static_cast<int>(gpu::CopyKind::kDeviceToHost));
}

void GpuBackend::make_resident(PackedLinear& w) {
  if (w.resident) return;
  check(gpu::set_device(impl_->device), "set device");
  auto resident = std::make_shared<GpuLinear>();
  resident->bytes = w.num_bytes();
  DeviceLinear& view = resident->view;
  view.format = w.format;
  view.int8_activations = w.int8_activations;
  view.num_rows = w.num_rows;
  view.num_cols = w.num_cols;
  view.group_cols = w.group_cols > 0 ? w.group_cols : w.num_cols;
  view.block_rows = w.block_rows;
  view.num_groups = w.num_groups();
  view.row_bytes = w.row_bytes();
  auto keep = [&](DeviceMemory memory) {
    resident->memory.push_back(std::move(memory));
    return resident->memory.back().data();
  };
  view.data = static_cast<const uint8_t*>(keep(upload_vector(w.data)));
  if (!w.scales.empty()) view.scales = static_cast<const float*>(keep(upload_vector(w.scales)));
  if (!w.int4_scales.empty())
    view.int4_scales = static_cast<const uint16_t*>(keep(upload_vector(w.int4_scales)));
  if (!w.int4_zeros.empty())
    view.int4_zeros = static_cast<const int8_t*>(keep(upload_vector(w.int4_zeros)));
  if (!w.col_perm.empty())
    view.col_perm = static_cast<const int32_t*>(keep(upload_vector(w.col_perm)));
  release(w.data);
  release(w.scales);
  release(w.int4_scales);
  release(w.int4_zeros);
  release(w.col_perm);
  w.resident = std::move(resident);
}

void GpuBackend::make_resident(MoeWeights& experts) {
  check(gpu::set_device(impl_->device), "set device");
  auto resident = std::make_shared<GpuMoe>();
  std::vector<DeviceLinear> w1, w3, w2;
  bool int8_activations = false;
  for (size_t e = 0; e < experts.w1.size(); ++e) {
    for (const PackedLinear* w : {&experts.w1[e], &experts.w3[e], &experts.w2[e]})
      resident->experts.push_back(w->resident);
    w1.push_back(device_view(experts.w1[e]));
    w3.push_back(device_view(experts.w3[e]));
    w2.push_back(device_view(experts.w2[e]));
    for (const DeviceLinear* view : {&w1.back(), &w3.back(), &w2.back()}) {
      int8_activations = int8_activations ||
                         (view->format == PackedFormat::kInt8Channel && view->int8_activations);
    }
  }
  resident->w1 = upload_vector(w1);
  resident->w3 = upload_vector(w3);
  resident->w2 = upload_vector(w2);
  resident->view.w1 = static_cast<const DeviceLinear*>(resident->w1.data());
  resident->view.w3 = static_cast<const DeviceLinear*>(resident->w3.data());
  resident->view.w2 = static_cast<const DeviceLinear*>(resident->w2.data());
  resident->view.num_experts = static_cast<int64_t>(w1.size());
  resident->view.intermediate_size = experts.intermediate_size;
  resident->view.int8_activations = int8_activations;
  experts.resident = std::move(resident);
}

void GpuBackend::embedding(const uint16_t* table, int64_t /*vocab*/, int64_t hidden,
                            const int32_t* ids, int64_t num_tokens, float* out) {
  enter();
  cuda::launch_embedding(table, hidden, ids, num_tokens, out, impl_->stream);
  check_launch("embedding");
}

void GpuBackend::rms_norm(const float* x, const float* gain, int64_t num_rows, int64_t width,
                           float eps, float* out) {
  enter();
  cuda::launch_rms_norm(x, gain, num_rows, width, eps, out, impl_->stream);
  check_launch("rms_norm");
}

void GpuBackend::rope_neox(float* x, const int32_t* positions, int64_t num_tokens,
                            int64_t num_heads, int64_t head_dim, int64_t rotary_dim, double theta) {
  enter();
  const auto key = std::make_pair(rotary_dim, theta);
  auto found = impl_->inv_freq.find(key);
  if (found == impl_->inv_freq.end()) {
    const int64_t half = rotary_dim / 2;
    std::vector<float> inv_freq(static_cast<size_t>(std::max<int64_t>(half, 1)));
    for (int64_t i = 0; i < half; ++i) {
      const float exponent = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
      inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(static_cast<float>(theta), exponent);
    }
    found = impl_->inv_freq.emplace(key, upload_vector(inv_freq)).first;
  }
  cuda::launch_rope_neox(x, positions, num_tokens, num_heads, head_dim, rotary_dim,
                         static_cast<const float*>(found->second.data()), impl_->stream);
  check_launch("rope_neox");
}

void GpuBackend::linear(const PackedLinear& w, const float* x, int64_t num_tokens, float* y) {
  enter();
  const DeviceLinear& view = device_view(w);
  if (num_tokens == 0 || view.num_rows == 0) return;
  gpu::Stream stream = impl_->stream;
  const int64_t cols = view.num_cols;
  if (cols == 0) {  // an empty sum
    check(gpu::memset_async(y, 0, static_cast<size_t>(num_tokens * view.num_rows) * sizeof(float),
                            stream),
          "memset");
    return;
  }
  if (view.format == PackedFormat::kInt8Channel && view.int8_activations) {
    auto* xq = static_cast<int8_t*>(scratch(kXq, static_cast<size_t>(num_tokens * cols)));
    auto* x_scales =
        static_cast<float*>(scratch(kXScales, static_cast<size_t>(num_tokens) * sizeof(float)));
    cuda::launch_quantize_rows_int8(x, num_tokens, cols, xq, x_scales, stream);
    cuda::launch_linear_gemv(view, nullptr, xq, x_scales, num_tokens, y, impl_->warp, stream);
    check_launch("linear (w8a8)");
    return;
  }
  if (num_tokens <= kGemvMaxTokens) {
    cuda::launch_linear_gemv(view, x, nullptr, nullptr, num_tokens, y, impl_->warp, stream);
    check_launch("linear (gemv)");
    return;
  }
  if (view.format == PackedFormat::kF32 && view.col_perm == nullptr) {
    impl_->blas->gemm_xwt(reinterpret_cast<const float*>(view.data), view.num_rows, cols, x,
                          num_tokens, y, view.num_rows);
    return;
  }
  const int64_t chunk_rows = std::clamp<int64_t>(
      static_cast<int64_t>(kDequantChunkBytes / (static_cast<size_t>(cols) * sizeof(float))), 1,
      view.num_rows);
  auto* dequantized = static_cast<float*>(
      scratch(kDequant, static_cast<size_t>(chunk_rows * cols) * sizeof(float)));
  for (int64_t n0 = 0; n0 < view.num_rows; n0 += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, view.num_rows - n0);
    cuda::launch_dequantize_rows(view, n0, rows, dequantized, stream);
    check_launch("dequantize_rows");
    impl_->blas->gemm_xwt(dequantized, rows, cols, x, num_tokens, y + n0, view.num_rows);
  }
}

void GpuBackend::kv_write(const KvLayerView& cache, const AttentionMetadata& meta, const float* k,
                           const float* v) {
  enter();
  cuda::launch_kv_write(cache, meta, k, v, impl_->stream);
  check_launch("kv_write");
}

void GpuBackend::paged_attention(const KvLayerView& cache, const AttentionMetadata& meta,
                                  const float* q, int64_t num_heads, float* out) {
  enter();
  if (cache.head_dim > cuda::kMaxHeadDim) {
    throw std::invalid_argument(std::string(gpu::kPlatform) + " backend: " "head_dim " + std::to_string(cache.head_dim) +
                                " above the attention kernel's " +
                                std::to_string(cuda::kMaxHeadDim));
  }
  cuda::launch_paged_attention(cache, meta, q, num_heads, out, impl_->warp, impl_->stream);
  check_launch("paged_attention");
}

void GpuBackend::router_topk(const float* logits, const float* bias, int64_t num_tokens,
                              int64_t num_experts, int64_t top_k, int32_t* ids, float* weights) {
  enter();
  if (num_experts > cuda::kMaxExperts || top_k > num_experts || top_k > cuda::kMaxTopK) {
    throw std::invalid_argument(std::string(gpu::kPlatform) + " backend: " "router top-" + std::to_string(top_k) + " of " +
                                std::to_string(num_experts) + " experts is outside the kernel's " +
                                "limits (" + std::to_string(cuda::kMaxExperts) + " experts, top-" +
                                std::to_string(cuda::kMaxTopK) + ")");
  }
  cuda::launch_router_topk(logits, bias, num_tokens, num_experts, top_k, ids, weights,
                           impl_->stream);
  check_launch("router_topk");
}

void GpuBackend::moe(const MoeWeights& experts, const float* x, int64_t num_tokens, int64_t hidden,
                      const int32_t* ids, const float* weights, int64_t top_k, float* out) {
  enter();
  const auto* resident = dynamic_cast<const GpuMoe*>(experts.resident.get());
  if (resident == nullptr)
    throw std::logic_error(std::string(gpu::kPlatform) + " backend: " "the experts were not made resident on the device");
  if (num_tokens == 0) return;
  if (top_k > cuda::kMaxTopK) {
    throw std::invalid_argument(std::string(gpu::kPlatform) + " backend: " "top-" + std::to_string(top_k) +
                                " experts per token; the MoE kernel sums at most " +
                                std::to_string(cuda::kMaxTopK));
  }
  const DeviceMoe& view = resident->view;
  const auto pairs = static_cast<size_t>(num_tokens * top_k);
  const auto inter = static_cast<size_t>(view.intermediate_size);
  const auto tokens = static_cast<size_t>(num_tokens);
  cuda::MoeScratch work;
  work.hidden_act = static_cast<float*>(scratch(kMoeHidden, pairs * inter * sizeof(float)));
  work.down = static_cast<float*>(scratch(kMoeDown, pairs * hidden * sizeof(float)));
  if (view.int8_activations) {
    work.xq = static_cast<int8_t*>(scratch(kMoeXq, tokens * hidden));
    work.x_scales = static_cast<float*>(scratch(kMoeXScales, tokens * sizeof(float)));
    work.hq = static_cast<int8_t*>(scratch(kMoeHq, pairs * inter));
    work.h_scales = static_cast<float*>(scratch(kMoeHScales, pairs * sizeof(float)));
  }
  cuda::launch_moe(view, x, num_tokens, hidden, ids, weights, top_k, work, out, impl_->warp,
                   impl_->stream);
  check_launch("moe");
}

void GpuBackend::add(const float* a, const float* b, int64_t num_elements, float* out) {
  enter();
  cuda::launch_add(a, b, num_elements, out, impl_->stream);
  check_launch("add");
}

void GpuBackend::gather_rows(const float* x, int64_t width, const int32_t* indices,
                              int64_t num_rows, float* out) {
  enter();
  cuda::launch_gather_rows(x, width, indices, num_rows, out, impl_->stream);
  check_launch("gather_rows");
}

void GpuBackend::sum_squares(const float* x, int64_t num_rows, int64_t width, double scale,
                              float* sums) {
  enter();
  cuda::launch_sum_squares(x, num_rows, width, scale, sums, impl_->stream);
  check_launch("sum_squares");
}

void GpuBackend::rms_norm_with_sums(const float* x, const float* gain, const float* sums,
                                     int64_t num_rows, int64_t width, int64_t full_width, float eps,
                                     float* out) {
  enter();
  cuda::launch_rms_norm_with_sums(x, gain, sums, num_rows, width, full_width, eps, out,
                                  impl_->stream);
  check_launch("rms_norm_with_sums");
}

}  // namespace mm
