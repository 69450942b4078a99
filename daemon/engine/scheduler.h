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
#include "daemon/engine/kv_tier.h"

namespace mm {

using SeqId = int64_t;

struct SchedulerConfig {
  int max_num_batched_tokens = 2048;
  int max_num_seqs = 64;
  int max_model_len = 4096;
  bool enable_prefix_caching = true;
  uint64_t cache_salt = 0;  // distinguishes models (and their precisions) sharing one pool
  // Budget tokens one block copied back from a lower KV tier costs (the copy is far cheaper
  // than computing block_size tokens, but not free).
  int restore_cost_per_block = 1;
};

// A block of a newly admitted sequence whose KV the engine copies back from a lower tier
// before the step runs (it was not in the pool, but a tier holds its prefix hash).
struct BlockRestore {
  SeqId seq = 0;
  int block_index = 0;  // in the sequence's block table
  BlockId block = 0;
  BlockHash hash;
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
  std::vector<BlockRestore> restores;  // to copy in before the step; counted in the budget
  int num_restore_tokens = 0;          // the budget they took
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
  // `read_prefix_cache` false: every position is computed (a request scoring its prompt needs
  // logits there); its full blocks are still cached for others.
  std::optional<AdmissionError> add(SeqId id, std::vector<int32_t> prompt, int max_num_tokens,
                                    int priority = 0, bool read_prefix_cache = true);
  // Plans one step. Sequences in the output own blocks for every token they compute.
  SchedulerOutput schedule();
  // Records that the step ran: advances each scheduled sequence, caches its newly filled
  // blocks, and appends `sampled[id]` to the sequences that wanted logits.
  void step_done(const SchedulerOutput& output, const std::unordered_map<SeqId, int32_t>& sampled);
  // A restore this step could not make (the tier's copy was gone or damaged): the sequence
  // computes from that block on instead, and must leave this step's batch.
  void restore_failed(SeqId id, int block_index);
  // The tiers below the pool (null: none). Admission continues a prefix that misses the pool
  // in `tier` while it holds the next block's hash. Not owned.
  void set_lower_tier(const KvTier* tier) { lower_tier_ = tier; }
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
  // Of the hits, the tokens planned to be copied back from a lower tier.
  int64_t num_tier_hit_tokens() const { return num_tier_hit_tokens_; }

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
    bool read_prefix_cache = true;
    std::vector<BlockId> block_table;
    std::vector<BlockHash> block_hashes;  // of the leading full blocks already cached
  };
  using QueueKey = std::pair<int, uint64_t>;  // (priority, arrival): smaller runs first

  struct CachedPrefix {
    std::vector<BlockId> blocks;  // leading full blocks found in the cache, not yet taken
    std::vector<BlockHash> hashes;
    std::vector<BlockHash> tier_hashes;  // the blocks after those, found in the lower tier
  };

  int blocks_for(int num_tokens) const;
  CachedPrefix find_cached_prefix(const Sequence& seq) const;
  // Takes the cached prefix (restores from the lower tier within the budget) and blocks for
  // the tokens after it, or, when the pool cannot give them, touches nothing and returns -1.
  // Otherwise the budget its restores took.
  int admit(Sequence& seq, int budget, SchedulerOutput& out);
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
  int64_t num_tier_hit_tokens_ = 0;
  const KvTier* lower_tier_ = nullptr;
};

}  // namespace mm
