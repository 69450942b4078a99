// The MiniMax-M2 forward (specs/minimax-m2.md §3) over a flat batch, on one Backend, with the
// weights repacked at load and a paged KV cache. Owned and called by the engine's runner
// thread only (not thread-safe); the backend may use worker threads inside each op.
//
// Numerics (kernels/README.md): activations and the residual stream stay f32; linear layers
// follow their checkpoint format (FP8 block as W8A16, W8A8 int8 per-token, int4 W4A16).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/forward_batch.h"
#include "daemon/model/kv_cache.h"
#include "daemon/model/model_config.h"
#include "daemon/model/model_weights.h"
#include "daemon/model/tensor_parallel_plan.h"
#include "kernels/backend.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/cpu_features.h"

namespace mm {

// How far a load is: the checkpoint bytes read (the shard headers, then each tensor once its
// layer is packed; what mmd does not use counts when the load ends) of the shards' total size.
struct LoadProgress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double fraction() const {
    return bytes_total > 0 ? static_cast<double>(bytes_done) / static_cast<double>(bytes_total)
                           : 0.0;
  }
};

struct RunnerOptions {
  KvDType kv_dtype = KvDType::kBf16;
  int block_size = 16;
  int64_t num_kv_blocks = 256;
  // The backend load() builds: "cpu", "cuda[:N]" or "hip[:N]" (kernels/backend_factory.h).
  std::string device = "cpu";
  int num_threads = 0;  // CPU backend: 0 = one per CPU in the affinity mask
  // CPU backend: fast int8-dot linear kernels (the daemon's default) or exact f32 ones (the
  // golden tests' reference); kernels/README.md "Numerics".
  CpuNumerics cpu_numerics = CpuNumerics::kFast;
  // W8A8 checkpoints quantize activations per token at run time (their semantics). false runs
  // them as W8A16 instead, to compare with a reference that does not emulate it.
  bool runtime_activation_quant = true;
  // Called on the loading thread once the checkpoint is open and after each layer is repacked.
  std::function<void(const LoadProgress& progress)> on_load_progress;
  // Tensor parallelism: this rank's group (null or one rank: the whole model here). Every rank
  // loads its share (tensor_parallel_plan.h) and must run the same forward() calls in the
  // same order; each returns the full logits. Its collectives are given backend memory (host
  // memory for MPI with CPU ranks, device memory for NCCL with GPU ranks). Not owned.
  Communicator* comm = nullptr;
  // Benchmarks: count the weight bytes each forward reads (last_forward_weight_bytes), which
  // reads the step's expert choices back to the host — a device-to-host copy and a sync per
  // forward that serving has no use for (and that a captured CUDA graph cannot contain).
  bool count_weight_bytes = false;
};

// Receives named intermediates of the forward: "embed", "layer.L.attn_norm", "layer.L.attn_out",
// "layer.L.moe_norm", "layer.L.router_logits", "layer.L.moe_out", "layer.L.out", "final_norm".
// data: f32 [rows = num_tokens, cols] host memory, valid during the call.
using IntermediateHook =
    std::function<void(std::string_view name, const float* data, int64_t rows, int64_t cols)>;

class ModelRunner {
 public:
  // Opens a checkpoint folder, checks and binds it, repacks every weight, makes it resident on a
  // new backend of options.device, and allocates the KV cache there. Throws LoadError naming
  // the problem (a device that cannot be opened included).
  static std::unique_ptr<ModelRunner> load(const std::filesystem::path& folder,
                                           const RunnerOptions& options);

  ModelRunner(const Checkpoint& checkpoint, const ModelConfig& config, const ModelWeights& weights,
              const RunnerOptions& options, std::unique_ptr<Backend> backend);
  ~ModelRunner();

  // Runs the batch: writes every token's K/V into its slot, and returns the logits of the
  // tokens named by batch.logits_indices: f32 [logits_indices.size(), vocab_size], row-major.
  // Throws std::invalid_argument naming the bad field (token id, position, slot, block table).
  std::vector<float> forward(const ForwardBatch& batch, const IntermediateHook& hook = nullptr);
  // The same forward without a copy per step: the logits stay where this runner keeps them
  // (the lm_head's own output on a backend whose buffers are host memory, otherwise one host
  // buffer reused across steps), valid and writable until the next forward. At 64 rows of the
  // real vocabulary that is 51 MB a step no longer allocated, page-faulted, zeroed and copied.
  std::span<float> forward_in_place(const ForwardBatch& batch,
                                    const IntermediateHook& hook = nullptr);

  const ModelConfig& config() const { return config_; }
  const RunnerOptions& options() const { return options_; }
  KvCache& kv_cache() { return *kv_cache_; }
  Backend& backend() { return *backend_; }
  uint64_t weight_bytes() const { return weight_bytes_; }  // resident packed weights
  // Packed weight bytes the last forward() had to read: every dense Linear, the experts that
  // at least one token was routed to, the embedding rows and the lm_head. Counted only with
  // RunnerOptions::count_weight_bytes (0 otherwise).
  uint64_t last_forward_weight_bytes() const { return last_forward_weight_bytes_; }

 private:
  struct Layer;
  void check_batch(const ForwardBatch& batch) const;
  // The full-width q/k RMSNorm of this rank's head slices: sums of squares across the ranks.
  void sharded_qk_norm(const Layer& layer, float* q, float* k, int64_t num_tokens);
  float* scratch(int slot, size_t num_floats);

  ModelConfig config_;
  RunnerOptions options_;
  int tp_ = 1;
  int rank_ = 0;
  TensorParallelPlan plan_;  // tp_ == 1: the whole model
  std::unique_ptr<Backend> backend_;
  // Resident in the backend's memory, as the layers' weights.
  std::unique_ptr<Buffer> embed_;       // bf16 bits [vocab, hidden]
  std::unique_ptr<Buffer> final_norm_;  // f32 [hidden]
  PackedLinear lm_head_;
  std::vector<Layer> layers_;
  std::unique_ptr<KvCache> kv_cache_;
  std::vector<std::unique_ptr<Buffer>> scratch_;
  std::vector<float> host_logits_;  // forward_in_place's logits where they must be copied out
  uint64_t weight_bytes_ = 0;
  uint64_t last_forward_weight_bytes_ = 0;
};

}  // namespace mm
