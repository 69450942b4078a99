#include "daemon/engine/block_pool.h"

#include <cassert>

namespace mm {

BlockPool::BlockPool(const BlockPoolOptions& options) : options_(options) {
  assert(options.block_size > 0 && options.blocks_per_chunk > 0);
  assert(options.initial_num_chunks >= 1 && options.initial_num_chunks <= options.max_num_chunks);
  for (int i = 0; i < options.initial_num_chunks; ++i)
    grow_one_chunk();
}

std::optional<BlockHash> BlockPool::hash_of(BlockId block) const {
  return block_hashes_[block];
}

bool BlockPool::can_allocate(int num) const {
  return num <= num_free_ + (max_num_blocks() - num_blocks());
}

void BlockPool::grow_one_chunk() {
  const auto first = static_cast<BlockId>(ref_counts_.size());
  const auto count = static_cast<size_t>(options_.blocks_per_chunk);
  ref_counts_.resize(ref_counts_.size() + count, 0);
  prev_.resize(prev_.size() + count, kNone);
  next_.resize(next_.size() + count, kNone);
  in_queue_.resize(in_queue_.size() + count, false);
  block_hashes_.resize(block_hashes_.size() + count);
  // Fresh blocks join the queue after the uncached free blocks at its head and before the
  // first cached one: they are used before any cached prefix is evicted.
  BlockId after = kNone;
  for (BlockId b = head_; b != kNone && !block_hashes_[b]; b = next_[b])
    after = b;
  for (BlockId block = first; block < first + options_.blocks_per_chunk; ++block) {
    insert_after(after, block);
    after = block;
  }
}

void BlockPool::insert_after(BlockId after, BlockId block) {
  if (after == kNone) {
    push_front(block);
    return;
  }
  if (after == tail_) {
    push_back(block);
    return;
  }
  prev_[block] = after;
  next_[block] = next_[after];
  prev_[next_[after]] = block;
  next_[after] = block;
  in_queue_[block] = true;
  ++num_free_;
}

std::vector<BlockId> BlockPool::allocate(int num) {
  if (num < 0 || !can_allocate(num)) return {};
  while (num_free_ < num)
    grow_one_chunk();
  std::vector<BlockId> out;
  out.reserve(static_cast<size_t>(num));
  for (int i = 0; i < num; ++i) {
    const BlockId block = head_;
    unlink(block);
    evict(block);
    ref_counts_[block] = 1;
    out.push_back(block);
  }
  return out;
}

void BlockPool::free(std::span<const BlockId> blocks) {
  for (BlockId block : blocks) {
    assert(ref_counts_[block] > 0);
    if (--ref_counts_[block] == 0) push_back(block);
  }
}

void BlockPool::touch(std::span<const BlockId> blocks) {
  for (BlockId block : blocks) {
    if (ref_counts_[block] == 0) unlink(block);
    ++ref_counts_[block];
  }
}

void BlockPool::cache_full_block(BlockId block, const BlockHash& hash) {
  if (block_hashes_[block]) return;  // already cached (a block's content never changes)
  // An identical prefix computed twice keeps the first block; the second stays uncached.
  if (cached_.emplace(hash, block).second) block_hashes_[block] = hash;
}

std::optional<BlockId> BlockPool::lookup(const BlockHash& hash) const {
  auto it = cached_.find(hash);
  if (it == cached_.end()) return std::nullopt;
  return it->second;
}

int BlockPool::shrink() {
  int released = 0;
  while (static_cast<int>(ref_counts_.size()) > options_.blocks_per_chunk) {
    const auto first = static_cast<BlockId>(ref_counts_.size()) - options_.blocks_per_chunk;
    for (BlockId block = first; block < num_blocks(); ++block) {
      if (ref_counts_[block] != 0) return released;
    }
    for (BlockId block = first; block < num_blocks(); ++block) {
      unlink(block);
      evict(block);
    }
    const auto keep = static_cast<size_t>(first);
    ref_counts_.resize(keep);
    prev_.resize(keep);
    next_.resize(keep);
    in_queue_.resize(keep);
    block_hashes_.resize(keep);
    released += options_.blocks_per_chunk;
  }
  return released;
}

int BlockPool::forget_cached() {
  const auto forgotten = static_cast<int>(cached_.size());
  cached_.clear();
  for (auto& hash : block_hashes_)
    hash.reset();
  return forgotten;
}

std::vector<BlockId> BlockPool::free_queue() const {
  std::vector<BlockId> out;
  for (BlockId block = head_; block != kNone; block = next_[block])
    out.push_back(block);
  return out;
}

void BlockPool::push_back(BlockId block) {
  prev_[block] = tail_;
  next_[block] = kNone;
  if (tail_ != kNone) next_[tail_] = block;
  tail_ = block;
  if (head_ == kNone) head_ = block;
  in_queue_[block] = true;
  ++num_free_;
}

void BlockPool::push_front(BlockId block) {
  next_[block] = head_;
  prev_[block] = kNone;
  if (head_ != kNone) prev_[head_] = block;
  head_ = block;
  if (tail_ == kNone) tail_ = block;
  in_queue_[block] = true;
  ++num_free_;
}

void BlockPool::unlink(BlockId block) {
  assert(in_queue_[block]);
  if (prev_[block] != kNone) next_[prev_[block]] = next_[block];
  if (next_[block] != kNone) prev_[next_[block]] = prev_[block];
  if (head_ == block) head_ = next_[block];
  if (tail_ == block) tail_ = prev_[block];
  prev_[block] = next_[block] = kNone;
  in_queue_[block] = false;
  --num_free_;
}

std::vector<std::pair<BlockId, BlockHash>> BlockPool::cached_blocks() const {
  std::vector<std::pair<BlockId, BlockHash>> out;
  for (BlockId block = 0; block < num_blocks(); ++block) {
    if (block_hashes_[block]) out.emplace_back(block, *block_hashes_[block]);
  }
  return out;
}

void BlockPool::evict(BlockId block) {
  if (block_hashes_[block]) {
    if (evict_listener_) evict_listener_(block, *block_hashes_[block]);
    cached_.erase(*block_hashes_[block]);
    block_hashes_[block].reset();
  }
}

}  // namespace mm
