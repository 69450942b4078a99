// The tiers under one block pool, as one KvTier: host memory first, then disk. A block put
// here goes to the host tier; the host tier's least recently used blocks move down to disk
// (or straight to disk when the host budget is 0). get() looks in the host tier, then on disk.
// Owned by the engine thread; not thread-safe (the disk tier's own writer thread is hidden).
#pragma once

#include <memory>
#include <vector>

#include "daemon/engine/disk_kv_tier.h"
#include "daemon/engine/host_kv_tier.h"

namespace mm {

struct KvTierOptions {
  uint64_t host_budget_bytes = 0;
  uint64_t disk_budget_bytes = 0;
  std::filesystem::path disk_dir;
};

class KvTierStack : public KvTier {
 public:
  // Throws KvTierError when the disk tier's folder cannot be used.
  KvTierStack(const KvTierOptions& options, const BlockHash& fingerprint, uint64_t payload_bytes);

  std::string_view name() const override { return "tiers"; }
  bool contains(const BlockHash& key) const override;
  bool put(const BlockHash& key, std::span<const std::byte> payload) override;
  bool get(const BlockHash& key, std::span<std::byte> out) override;
  void clear() override;
  KvTierStats stats() const override;  // the sum over the tiers
  std::vector<KvTierStats> tier_stats() const;

  // Stores straight on disk (sleep level 2 and shutdown, when host memory goes away).
  bool put_disk(const BlockHash& key, std::span<const std::byte> payload);
  // Moves every host block to disk (what the disk budget allows) and empties the host tier.
  void spill_host_to_disk();
  void flush_disk() { disk_->flush(); }
  uint64_t payload_bytes() const { return payload_bytes_; }
  const BlockHash& fingerprint() const { return fingerprint_; }
  bool enabled() const { return host_budget_ > 0 || disk_budget_ > 0; }

 private:
  BlockHash fingerprint_;
  uint64_t payload_bytes_;
  uint64_t host_budget_;
  uint64_t disk_budget_;
  std::unique_ptr<DiskKvTier> disk_;
  std::unique_ptr<HostKvTier> host_;
};

}  // namespace mm
