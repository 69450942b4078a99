// Content hashes of full KV blocks for prefix caching: each block's hash chains its parent's
// hash, its token ids and a model salt, so equal hashes mean equal whole prefixes.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace mm {

// 128 bits: two independent 64-bit lanes, so an accidental collision (which would silently
// reuse another prompt's KV) is out of reach in practice.
struct BlockHash {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const BlockHash&) const = default;
};

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.lo ^ (h.hi << 1)); }
};

// The hash of the first block is chained from `root_hash(salt)`.
BlockHash root_hash(uint64_t salt);
BlockHash chain_block_hash(const BlockHash& parent, std::span<const int32_t> token_ids);

}  // namespace mm
