// Tensor parallelism across processes: rank 0 runs the engine (scheduler, sampler, frontends)
// and tells the other ranks what to do, in the order it does it — load the model, run this
// forward batch, give back these KV blocks, hand over or take back one block's KV for the KV
// tiers, unload, stop — by broadcasting a small header and
// its payload over the group's communicator. The other ranks run follow_rank_zero(): they hold
// their share of the weights and KV cache and join every forward's collectives. A rank that
// cannot follow (its load fails) exits non-zero, and the launcher ends the job.
// RankLeader is used by the engine thread only; follow_rank_zero() owns its calling thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

#include "daemon/model/forward_batch.h"
#include "daemon/model/model_runner.h"
#include "kernels/comm/communicator.h"

namespace mm {

class RankLeader {
 public:
  explicit RankLeader(Communicator& comm) : comm_(comm) {}
  // Each call precedes the same action on rank 0.
  void load(const RunnerOptions& options);
  void forward(const ForwardBatch& batch);
  void discard_kv(int64_t first_block, int64_t num_blocks);
  // The KV tiers keep a block as every rank's share of it, in rank order (each share is
  // KvCache::block_payload_bytes() of its rank, the same on every rank). read_block gathers
  // them into `all` (rank 0's own share read from `mine`); write_block sends `all` to every
  // rank, each writing its own share (rank 0 writes its own itself).
  void read_block(int64_t block, const KvCache& mine, std::span<std::byte> all);
  void write_block(int64_t block, std::span<const std::byte> all);
  void unload();
  void stop();

 private:
  Communicator& comm_;
};

// Rank > 0: follows rank 0 until it says stop. `model` and `threads` come from this rank's own
// command line; every other runner setting comes from rank 0 with each load. Returns the
// process exit code (0 after stop; 1 when the model cannot load here, after saying why on
// stderr).
// device: this rank's backend ("cpu", or "cuda:N" for a GPU rank); collectives: the runner's
// group on device memory (NCCL) for a GPU rank, null to run them over `comm`.
int follow_rank_zero(Communicator& comm, const std::filesystem::path& model, int threads,
                     const std::string& device = "cpu", Communicator* collectives = nullptr);

}  // namespace mm
