// The tiers below the KV block pool (DESIGN.md "The engine"): a full block that leaves the
// pool is kept in the next tier, keyed by its prefix-cache chain hash (already salted with the
// model fingerprint), and copied back on a later hit instead of being recomputed. A payload is
// one block of every layer, K then V per layer, then the per-layer K and V scales (f32): see
// KvCache::read_block. The same interface serves device -> host -> disk.
// Thread ownership is each implementation's: see its header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "daemon/engine/block_hash.h"

namespace mm {

// One tier's counters, as status, D-Bus and /metrics report them.
struct KvTierStats {
  std::string name;  // "host" or "disk"
  uint64_t budget_bytes = 0;
  uint64_t num_blocks = 0;
  uint64_t num_bytes = 0;        // what the blocks take (disk: their files, headers included)
  uint64_t hits_total = 0;       // get() that returned a payload
  uint64_t stores_total = 0;     // put() that kept a block
  uint64_t evictions_total = 0;  // blocks dropped to hold the budget (LRU)
  uint64_t rejected_total = 0;   // disk: corrupt, truncated or foreign files deleted
  uint64_t dropped_total = 0;    // disk: puts dropped because the write queue was full
};

class KvTier {
 public:
  virtual ~KvTier() = default;
  virtual std::string_view name() const = 0;
  virtual bool contains(const BlockHash& key) const = 0;
  // Keeps a copy of `payload` under `key`, evicting least recently used blocks to stay within
  // the budget. False when it is not kept (budget 0, a payload over the budget, a full queue).
  virtual bool put(const BlockHash& key, std::span<const std::byte> payload) = 0;
  // Copies the payload of `key` into `out` (exactly its size) and marks it recently used. False
  // on a miss, or when what is stored is damaged (then it is dropped): `out` must not be used.
  virtual bool get(const BlockHash& key, std::span<std::byte> out) = 0;
  virtual void clear() = 0;
  virtual KvTierStats stats() const = 0;
};

// A 64-bit checksum of a byte range (word-wise multiply-rotate, then a full mix): catches
// flipped, zeroed and truncated bytes in a tier's files. Not cryptographic. Pure.
uint64_t kv_payload_checksum(std::span<const std::byte> bytes, uint64_t seed = 0);

}  // namespace mm
