// The disk KV tier: one file per block in a private folder, `<key>.kvb`, holding a 64-byte
// header (magic, format version, model fingerprint, key, payload size, checksum over header
// and payload) and the payload. Files are written by a background thread (put() only queues
// a copy, so it never delays a step) to a temporary name and renamed into place, so a file
// under its final name is whole; a daemon killed mid-write leaves only a `.tmp-` file, which
// the next start deletes. A file whose header, size or checksum is wrong, or whose
// fingerprint is another model's, is deleted and never returned. Least recently used files
// are deleted to hold the budget; a hit refreshes the file's mtime, so the order survives a
// restart. The folder must be owned by the daemon's user and writable by nobody else.
// Thread-safe: the engine thread calls it, the writer thread writes under its lock.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/engine/kv_tier.h"

namespace mm {

struct DiskKvTierOptions {
  std::filesystem::path dir;
  uint64_t budget_bytes = 0;   // files, headers included; 0: nothing is written or read
  BlockHash fingerprint;       // of the model: files with another one are deleted
  uint64_t payload_bytes = 0;  // every block's payload has this size
  // Copies waiting for the writer; beyond this, put() drops the block instead of waiting.
  uint64_t max_pending_bytes = 64ull << 20;
};

// The cache folder cannot be used (not ours, writable by others, not a directory).
class KvTierError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DiskKvTier : public KvTier {
 public:
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr size_t kHeaderBytes = 64;

  // Creates the folder (mode 0700) if needed, checks it, deletes leftover temporary files and
  // every file that is not a whole block of this model, and indexes the rest. Throws
  // KvTierError naming the folder and the problem.
  explicit DiskKvTier(DiskKvTierOptions options);
  ~DiskKvTier() override;  // writes what is queued, then stops the writer

  std::string_view name() const override { return "disk"; }
  bool contains(const BlockHash& key) const override;
  bool put(const BlockHash& key, std::span<const std::byte> payload) override;
  // As put(), but waits for room in the write queue instead of dropping (sleep and shutdown,
  // when no step is waiting).
  bool put_waiting(const BlockHash& key, std::span<const std::byte> payload);
  bool get(const BlockHash& key, std::span<std::byte> out) override;
  void clear() override;
  KvTierStats stats() const override;

  // Blocks until every queued write is on disk (or failed).
  void flush();
  std::filesystem::path file_of(const BlockHash& key) const;
  uint64_t file_bytes() const { return kHeaderBytes + options_.payload_bytes; }

 private:
  struct Pending {
    BlockHash key;
    std::vector<std::byte> payload;
    uint64_t generation = 0;
  };
  struct Indexed {
    std::list<BlockHash>::iterator lru;
  };
  void check_folder();
  void scan();
  void writer_loop();
  bool enqueue(const BlockHash& key, std::span<const std::byte> payload, bool wait);
  bool write_file(const Pending& item);
  void insert_locked(const BlockHash& key);
  void erase_locked(const BlockHash& key, bool unlink_file);
  void reject(const BlockHash& key);

  DiskKvTierOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable idle_;
  std::deque<std::shared_ptr<Pending>> queue_;
  std::unordered_map<BlockHash, std::shared_ptr<Pending>, BlockHashHasher> pending_;
  uint64_t pending_bytes_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  uint64_t generation_ = 0;   // clear() bumps it: writes queued before are dropped
  std::list<BlockHash> lru_;  // front: least recently used
  std::unordered_map<BlockHash, Indexed, BlockHashHasher> index_;
  KvTierStats stats_;
  uint64_t temp_counter_ = 0;
  std::thread writer_;
};

}  // namespace mm
