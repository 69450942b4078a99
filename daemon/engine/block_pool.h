// The paged KV cache's block bookkeeping: reference counts, the free queue (least recently
// used first), prefix-cache hashes, and growth in chunks up to a cap. Pure host logic: it
// never touches KV memory; the backend maps block ids to storage.
// Owned by the engine thread; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "daemon/engine/block_hash.h"

namespace mm {

using BlockId = int32_t;

struct BlockPoolOptions {
  int block_size = 16;        // tokens per block
  int blocks_per_chunk = 64;  // the pool grows and shrinks by whole chunks
  int initial_num_chunks = 1;
  int max_num_chunks = 16;  // the byte cap, in chunks
};

class BlockPool {
 public:
  explicit BlockPool(const BlockPoolOptions& options);

  int block_size() const { return options_.block_size; }
  int num_blocks() const { return static_cast<int>(ref_counts_.size()); }
  int max_num_blocks() const { return options_.max_num_chunks * options_.blocks_per_chunk; }
  int num_free_blocks() const { return num_free_; }  // allocatable without growing
  int num_used_blocks() const { return num_blocks() - num_free_; }
  int num_cached_blocks() const { return static_cast<int>(cached_.size()); }
  int ref_count(BlockId block) const { return ref_counts_[block]; }
  std::optional<BlockHash> hash_of(BlockId block) const;

  // Query: could allocate(num) succeed, growing if needed?
  bool can_allocate(int num) const;
  // Takes `num` blocks (ref count 1 each) from the head of the free queue, evicting their
  // cached hashes, after growing by whole chunks if the free queue is short. Empty when
  // impossible; then nothing changed.
  std::vector<BlockId> allocate(int num);
  // Drops one reference of each block; blocks reaching zero join the tail of the free queue
  // in the given order (callers pass a sequence's blocks tail first, so its prefix, the part
  // most worth keeping, is evicted last).
  void free(std::span<const BlockId> blocks);
  // Takes a reference on cached blocks found by lookup() (a prefix-cache hit), removing them
  // from the free queue where they waited.
  void touch(std::span<const BlockId> blocks);
  // Records that a full block holds the prefix with this hash.
  void cache_full_block(BlockId block, const BlockHash& hash);
  std::optional<BlockId> lookup(const BlockHash& hash) const;
  // Gives back whole trailing chunks whose blocks are all free (their cached prefixes are
  // forgotten), down to one chunk. Returns the number of blocks released.
  int shrink();
  // Forgets every cached prefix (`mmctl cache clear`): no later lookup() finds one, and no evict
  // listener hears of them (the lower tiers are being emptied too). Blocks in use stay with
  // their sequences. Returns how many hashes were forgotten.
  int forget_cached();

  // The free queue from head (next to allocate) to tail, for tests and status.
  std::vector<BlockId> free_queue() const;
  // Every cached block and its hash, in block order (sleep and shutdown keep them in a tier).
  std::vector<std::pair<BlockId, BlockHash>> cached_blocks() const;
  // Called with a cached block just before its hash is forgotten (reused by allocate() or given
  // back by shrink()), while its KV still holds that prefix: the engine keeps it in a lower tier.
  using EvictListener = std::function<void(BlockId block, const BlockHash& hash)>;
  void set_evict_listener(EvictListener listener) { evict_listener_ = std::move(listener); }

 private:
  static constexpr BlockId kNone = -1;
  void grow_one_chunk();
  void push_back(BlockId block);
  void push_front(BlockId block);
  void insert_after(BlockId after, BlockId block);
  void unlink(BlockId block);
  void evict(BlockId block);

  BlockPoolOptions options_;
  std::vector<int32_t> ref_counts_;
  std::vector<BlockId> prev_;  // free-queue links; kNone at the ends and for used blocks
  std::vector<BlockId> next_;
  std::vector<bool> in_queue_;
  BlockId head_ = kNone;
  BlockId tail_ = kNone;
  int num_free_ = 0;
  std::unordered_map<BlockHash, BlockId, BlockHashHasher> cached_;
  std::vector<std::optional<BlockHash>> block_hashes_;
  EvictListener evict_listener_;
};

}  // namespace mm
