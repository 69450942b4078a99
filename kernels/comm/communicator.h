// Collectives across the ranks of one tensor-parallel group: what the sharded forward needs
// (an all-reduce after o_proj and after the MoE, the q/k-norm sum of squares across heads, an
// all-gather of the vocabulary-split logits) and what rank 0 needs to hand each step's batch
// to the others (a broadcast). Three implementations: one rank (no communication), MPI (CPU
// ranks, and the bootstrap of GPU ranks), NCCL (GPU ranks; later). Every rank calls the same
// collectives in the same order; each call blocks until this rank's part is done.
// Results are identical on every rank, bit for bit.
// Not thread-safe: one thread (the engine's) drives a communicator.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

namespace mm {

// A collective failed (a rank died, the transport broke); the message names the call.
class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "single", "mpi", "nccl": for logs.
  virtual std::string kind() const = 0;

  // In place: data = Σ over ranks of each rank's data (same length on every rank).
  virtual void all_reduce_sum(std::span<float> data) = 0;
  // all = concatenation of every rank's `mine` in rank order (all.size() == size() · mine.size()).
  virtual void all_gather(std::span<const float> mine, std::span<float> all) = 0;
  // Root's bytes to every rank (the same length on every rank).
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
};

// The trivial group of one rank.
std::unique_ptr<Communicator> make_single_rank_communicator();

}  // namespace mm
