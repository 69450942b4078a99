// The host-memory KV tier: block payloads in plain heap memory, least recently used evicted
// first once `budget_bytes` would be exceeded. An evicted block goes to `on_evict` (the disk
// tier below, where there is one). Budget 0: nothing is ever kept.
// Owned by the engine thread; not thread-safe.
#pragma once

#include <functional>
#include <list>
#include <unordered_map>
#include <vector>

#include "daemon/engine/kv_tier.h"

namespace mm {

class HostKvTier : public KvTier {
 public:
  using EvictFn = std::function<void(const BlockHash& key, std::span<const std::byte> payload)>;
  explicit HostKvTier(uint64_t budget_bytes, EvictFn on_evict = nullptr);

  std::string_view name() const override { return "host"; }
  bool contains(const BlockHash& key) const override { return index_.contains(key); }
  bool put(const BlockHash& key, std::span<const std::byte> payload) override;
  bool get(const BlockHash& key, std::span<std::byte> out) override;
  void clear() override;
  KvTierStats stats() const override;

  // Hands every block to `fn`, least recently used first, then forgets them all (sleep level
  // 2 and shutdown move the host tier to disk this way). Counts no eviction.
  void drain(const EvictFn& fn);
  // Keys from least to most recently used (for tests).
  std::vector<BlockHash> lru_order() const;

 private:
  struct Entry {
    BlockHash key;
    std::vector<std::byte> payload;
  };
  void evict_one();

  uint64_t budget_bytes_;
  EvictFn on_evict_;
  std::list<Entry> lru_;  // front: least recently used
  std::unordered_map<BlockHash, std::list<Entry>::iterator, BlockHashHasher> index_;
  uint64_t num_bytes_ = 0;
  KvTierStats stats_;
};

}  // namespace mm
