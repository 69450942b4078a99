#include "daemon/engine/host_kv_tier.h"

#include <bit>
#include <cstring>

#include "daemon/engine/bit_mix.h"

namespace mm {

uint64_t kv_payload_checksum(std::span<const std::byte> bytes, uint64_t seed) {
  // Four independent lanes keep the multiplies pipelined (a few GB/s on one core), so checking
  // a restored block costs far less than reading it.
  uint64_t lanes[4] = {seed ^ 0x9E3779B97F4A7C15ull, seed + 0xC2B2AE3D27D4EB4Full,
                       seed ^ 0x165667B19E3779F9ull, seed + 0x27D4EB2F165667C5ull};
  constexpr uint64_t kMul = 0x9FB21C651E98DF25ull;
  size_t i = 0;
  const std::byte* p = bytes.data();
  for (; i + 32 <= bytes.size(); i += 32) {
    for (size_t l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      lanes[l] = std::rotl(lanes[l] ^ w, 23) * kMul;
    }
  }
  uint64_t tail = 0;
  for (size_t shift = 0; i < bytes.size(); ++i, shift += 8)
    tail ^= static_cast<uint64_t>(std::to_integer<uint8_t>(p[i])) << (shift % 64);
  uint64_t h = mix64(lanes[0]) ^ std::rotl(mix64(lanes[1]), 17) ^ std::rotl(mix64(lanes[2]), 31) ^
               std::rotl(mix64(lanes[3]), 47);
  return mix64(h ^ mix64(tail + bytes.size()));
}

HostKvTier::HostKvTier(uint64_t budget_bytes, EvictFn on_evict)
    : budget_bytes_(budget_bytes), on_evict_(std::move(on_evict)) {
  stats_.name = "host";
  stats_.budget_bytes = budget_bytes;
}

bool HostKvTier::put(const BlockHash& key, std::span<const std::byte> payload) {
  if (payload.size() > budget_bytes_) return false;  // budget 0 included
  if (auto it = index_.find(key); it != index_.end()) {
    // Same key, same content (the hash names the whole prefix): only refresh its age.
    lru_.splice(lru_.end(), lru_, it->second);
    return true;
  }
  while (!lru_.empty() && num_bytes_ + payload.size() > budget_bytes_)
    evict_one();
  lru_.push_back(Entry{key, std::vector<std::byte>(payload.begin(), payload.end())});
  index_.emplace(key, std::prev(lru_.end()));
  num_bytes_ += payload.size();
  ++stats_.stores_total;
  return true;
}

bool HostKvTier::get(const BlockHash& key, std::span<std::byte> out) {
  auto it = index_.find(key);
  if (it == index_.end() || it->second->payload.size() != out.size()) return false;
  std::memcpy(out.data(), it->second->payload.data(), out.size());
  lru_.splice(lru_.end(), lru_, it->second);
  ++stats_.hits_total;
  return true;
}

void HostKvTier::evict_one() {
  Entry& victim = lru_.front();
  if (on_evict_) on_evict_(victim.key, victim.payload);
  num_bytes_ -= victim.payload.size();
  index_.erase(victim.key);
  lru_.pop_front();
  ++stats_.evictions_total;
}

void HostKvTier::drain(const EvictFn& fn) {
  for (const Entry& entry : lru_)
    fn(entry.key, entry.payload);
  clear();
}

void HostKvTier::clear() {
  lru_.clear();
  index_.clear();
  num_bytes_ = 0;
}

KvTierStats HostKvTier::stats() const {
  KvTierStats out = stats_;
  out.num_blocks = index_.size();
  out.num_bytes = num_bytes_;
  return out;
}

std::vector<BlockHash> HostKvTier::lru_order() const {
  std::vector<BlockHash> out;
  for (const Entry& entry : lru_)
    out.push_back(entry.key);
  return out;
}

}  // namespace mm
