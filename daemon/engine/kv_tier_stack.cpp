#include "daemon/engine/kv_tier_stack.h"

namespace mm {

KvTierStack::KvTierStack(const KvTierOptions& options, const BlockHash& fingerprint,
                         uint64_t payload_bytes)
    : fingerprint_(fingerprint),
      payload_bytes_(payload_bytes),
      host_budget_(options.host_budget_bytes),
      disk_budget_(options.disk_budget_bytes) {
  disk_ = std::make_unique<DiskKvTier>(DiskKvTierOptions{.dir = options.disk_dir,
                                                         .budget_bytes = options.disk_budget_bytes,
                                                         .fingerprint = fingerprint,
                                                         .payload_bytes = payload_bytes});
  host_ = std::make_unique<HostKvTier>(
      options.host_budget_bytes, [this](const BlockHash& key, std::span<const std::byte> payload) {
        disk_->put(key, payload);
      });
}

bool KvTierStack::contains(const BlockHash& key) const {
  return host_->contains(key) || disk_->contains(key);
}

bool KvTierStack::put(const BlockHash& key, std::span<const std::byte> payload) {
  if (host_->put(key, payload)) return true;
  return disk_->put(key, payload);
}

bool KvTierStack::put_disk(const BlockHash& key, std::span<const std::byte> payload) {
  return disk_->put_waiting(key, payload);
}

bool KvTierStack::get(const BlockHash& key, std::span<std::byte> out) {
  return host_->get(key, out) || disk_->get(key, out);
}

void KvTierStack::clear() {
  host_->clear();
  disk_->clear();
}

void KvTierStack::spill_host_to_disk() {
  host_->drain([this](const BlockHash& key, std::span<const std::byte> payload) {
    disk_->put_waiting(key, payload);
  });
}

std::vector<KvTierStats> KvTierStack::tier_stats() const {
  return {host_->stats(), disk_->stats()};
}

KvTierStats KvTierStack::stats() const {
  KvTierStats sum;
  sum.name = "tiers";
  for (const KvTierStats& s : tier_stats()) {
    sum.budget_bytes += s.budget_bytes;
    sum.num_blocks += s.num_blocks;
    sum.num_bytes += s.num_bytes;
    sum.hits_total += s.hits_total;
    sum.stores_total += s.stores_total;
    sum.evictions_total += s.evictions_total;
    sum.rejected_total += s.rejected_total;
    sum.dropped_total += s.dropped_total;
  }
  return sum;
}

}  // namespace mm
