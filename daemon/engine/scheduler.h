// The token-budget scheduler (DESIGN.md "The engine"). There are no prefill or decode phases:
// each sequence needs `num_tokens - num_computed_tokens` more tokens computed, and every step
// hands out at most `max_num_batched_tokens` of them to at most `max_num_seqs` sequences:
// first to running sequences that need one token (decodes), then to running sequences with
// longer remainders (prefill chunks), then to waiting sequences it admits while KV blocks
// allow. When blocks run out it preempts the newest running sequence (frees its blocks,
// requeues it at the front, recomputes it later).
// Pure host logic, built from token ids and a block pool alone.
// Owned by the engine thread; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/engine/block_pool.h"

namespace mm {

using SeqId = int64_t;

struct SchedulerConfig {
  int max_num_batched_tokens = 2048;
  int max_num_seqs = 64;
  int max_model_len = 4096;
  bool enable_prefix_caching = true;
  uint64_t cache_salt = 0;  // distinguishes models (and their precisions) sharing one pool
};

struct ScheduledSeq {
  SeqId id = 0;
  int start_position = 0;  // position of the first token computed this step
  int num_tokens = 0;
  // True when this chunk reaches the sequence's last known token: the step samples from it.
  bool wants_logits = false;
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> scheduled;  // in batch order
  int num_batched_tokens = 0;
  std::vector<SeqId> preempted;  // lost their blocks this step; they will be recomputed
};

// Why add() refused a sequence.
struct AdmissionError {
  std::string message;
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockPool& pool);

  // Queues a sequence. `max_num_tokens` is the longest it may grow (prompt plus the most it may
  // generate, capped at max_model_len). Returns an error, and queues nothing, for a prompt
  // longer than max_model_len or a sequence that could not fit in the pool even alone.
  std::optional<AdmissionError> add(SeqId id, std::vector<int32_t> prompt, int max_num_tokens,
                                    int priority = 0);
  // Plans one step. Sequences in the output own blocks for every token they compute.
  SchedulerOutput schedule();
  // Records that the step ran: advances each scheduled sequence, caches its newly filled
  // blocks, and appends `sampled[id]` to the sequences that wanted logits.
  void step_done(const SchedulerOutput& output, const std::unordered_map<SeqId, int32_t>& sampled);
  // Removes a sequence (finished, cancelled or failed) and frees its blocks. Unknown ids are
  // ignored. Safe between steps only: the engine frees a sequence once no batch uses it.
  void remove(SeqId id);

  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  // Prefix-cache accounting, once per admission: tokens looked up, tokens found. A refused
  // admission counts nothing.
  int64_t num_prefix_query_tokens() const { return num_prefix_query_tokens_; }
  int64_t num_prefix_hit_tokens() const { return num_prefix_hit_tokens_; }

  // For tests and status.
  const std::vector<BlockId>& block_table(SeqId id) const;
  int num_computed_tokens(SeqId id) const;
  const std::vector<int32_t>& token_ids(SeqId id) const;
  bool is_running(SeqId id) const;

 private:
  struct Sequence {
    SeqId id = 0;
    std::vector<int32_t> token_ids;
    int max_num_tokens = 0;
    int priority = 0;
    uint64_t arrival = 0;
    int num_computed_tokens = 0;
    std::vector<BlockId> block_table;
    std::vector<BlockHash> block_hashes;  // of the leading full blocks already cached
  };
  using QueueKey = std::pair<int, uint64_t>;  // (priority, arrival): smaller runs first

  struct CachedPrefix {
    std::vector<BlockId> blocks;  // leading full blocks found in the cache, not yet taken
    std::vector<BlockHash> hashes;
  };

  int blocks_for(int num_tokens) const;
  CachedPrefix find_cached_prefix(const Sequence& seq) const;
  // Takes the cached prefix and blocks for the first `budget` tokens, or, when the pool
  // cannot give them, touches nothing and returns false.
  bool admit(Sequence& seq, int budget);
  bool reserve_blocks(Sequence& seq, int num_tokens);
  void release(Sequence& seq);
  void cache_blocks(Sequence& seq);

  SchedulerConfig config_;
  BlockPool& pool_;
  std::unordered_map<SeqId, Sequence> sequences_;
  std::map<QueueKey, SeqId> waiting_;
  std::map<QueueKey, SeqId> running_;
  uint64_t next_arrival_ = 0;
  int64_t num_prefix_query_tokens_ = 0;
  int64_t num_prefix_hit_tokens_ = 0;
};

}  // namespace mm
