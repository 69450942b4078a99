#include "daemon/engine/disk_kv_tier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace mm {

namespace {

constexpr std::array<char, 8> kMagic = {'M', 'M', 'D', 'K', 'V', 'B', 'L', 'K'};
constexpr const char* kExtension = ".kvb";
constexpr const char* kTempPrefix = ".tmp-";

// The header, little-endian as the hosts mmd runs on; 64 bytes with no padding.
struct Header {
  std::array<char, 8> magic = kMagic;
  uint32_t version = DiskKvTier::kFormatVersion;
  uint32_t header_bytes = DiskKvTier::kHeaderBytes;
  uint64_t fingerprint_hi = 0, fingerprint_lo = 0;
  uint64_t key_hi = 0, key_lo = 0;
  uint64_t payload_bytes = 0;
  uint64_t checksum = 0;  // over the bytes above it and the payload
};
static_assert(sizeof(Header) == DiskKvTier::kHeaderBytes);

uint64_t checksum_of(const Header& header, std::span<const std::byte> payload) {
  const auto* raw = reinterpret_cast<const std::byte*>(&header);
  const uint64_t seed = kv_payload_checksum(std::span(raw, offsetof(Header, checksum)));
  return kv_payload_checksum(payload, seed);
}

std::string hex_of(const BlockHash& key) {
  char text[33];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(key.hi),
                static_cast<unsigned long long>(key.lo));
  return text;
}

bool read_all(int fd, void* data, size_t size, off_t offset) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

bool write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

DiskKvTier::DiskKvTier(DiskKvTierOptions options) : options_(std::move(options)) {
  stats_.name = "disk";
  stats_.budget_bytes = options_.budget_bytes;
  if (options_.budget_bytes == 0) return;  // off: the folder is not even created
  check_folder();
  scan();
  writer_ = std::thread([this] { writer_loop(); });
}

DiskKvTier::~DiskKvTier() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void DiskKvTier::check_folder() {
  const auto& dir = options_.dir;
  const std::string where = "the KV disk cache folder " + dir.string();
  if (dir.empty()) throw KvTierError("the KV disk cache needs a folder (--kv-disk-cache-dir)");
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw KvTierError(where + " cannot be created: " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    throw KvTierError(where + " cannot be read: " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw KvTierError(where + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    throw KvTierError(where + " is owned by uid " + std::to_string(st.st_uid) +
                      ", not by mmd's user (uid " + std::to_string(::geteuid()) + ")");
  }
  if ((st.st_mode & 022) != 0) {
    throw KvTierError(where + " is writable by other users (mode " +
                      std::to_string((st.st_mode >> 6) & 7) +
                      std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
                      "); it must be 0700");
  }
  if ((st.st_mode & 077) != 0) ::chmod(dir.c_str(), 0700);  // ours: make it private
}

void DiskKvTier::scan() {
  struct Found {
    BlockHash key;
    int64_t mtime_ns = 0;
  };
  std::vector<Found> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0) {
      // A write that never finished (a killed daemon): never read, always removed.
      std::filesystem::remove(entry.path(), ec);
      continue;
    }
    if (entry.path().extension() != kExtension) continue;  // not ours
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    Header header;
    struct stat st {};
    const bool ok = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    read_all(fd, &header, sizeof(header), 0) && header.magic == kMagic &&
                    header.version == kFormatVersion && header.header_bytes == kHeaderBytes &&
                    header.fingerprint_hi == options_.fingerprint.hi &&
                    header.fingerprint_lo == options_.fingerprint.lo &&
                    header.payload_bytes == options_.payload_bytes &&
                    static_cast<uint64_t>(st.st_size) == file_bytes() &&
                    name == hex_of({header.key_hi, header.key_lo}) + kExtension;
    if (fd >= 0) ::close(fd);
    if (!ok) {
      // Another model's, another format's, truncated or renamed: the payload checksum is
      // checked on each read; these fail before that.
      std::filesystem::remove(entry.path(), ec);
      ++stats_.rejected_total;
      continue;
    }
    found.push_back({{header.key_hi, header.key_lo},
                     static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns < b.mtime_ns; });
  std::lock_guard lock(mutex_);
  for (const Found& f : found)
    insert_locked(f.key);  // also trims to the budget, oldest first
}

std::filesystem::path DiskKvTier::file_of(const BlockHash& key) const {
  return options_.dir / (hex_of(key) + kExtension);
}

bool DiskKvTier::contains(const BlockHash& key) const {
  std::lock_guard lock(mutex_);
  return index_.contains(key) || pending_.contains(key);
}

bool DiskKvTier::put(const BlockHash& key, std::span<const std::byte> payload) {
  return enqueue(key, payload, false);
}

bool DiskKvTier::put_waiting(const BlockHash& key, std::span<const std::byte> payload) {
  return enqueue(key, payload, true);
}

bool DiskKvTier::enqueue(const BlockHash& key, std::span<const std::byte> payload, bool wait) {
  if (options_.budget_bytes == 0 || file_bytes() > options_.budget_bytes ||
      payload.size() != options_.payload_bytes) {
    return false;
  }
  {
    std::unique_lock lock(mutex_);
    if (wait) {
      idle_.wait(lock, [&] {
        return pending_bytes_ + payload.size() <= options_.max_pending_bytes || stopping_;
      });
    }
    if (pending_.contains(key)) return true;
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.end(), lru_, it->second.lru);  // already on disk: only its age changes
      return true;
    }
    if (pending_bytes_ + payload.size() > options_.max_pending_bytes) {
      ++stats_.dropped_total;  // the disk is behind: drop rather than delay a step
      return false;
    }
    auto item = std::make_shared<Pending>(
        Pending{key, std::vector<std::byte>(payload.begin(), payload.end()), generation_});
    pending_bytes_ += payload.size();
    pending_.emplace(key, item);
    queue_.push_back(std::move(item));
  }
  work_.notify_one();
  return true;
}

void DiskKvTier::writer_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::shared_ptr<Pending> item = queue_.front();
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    const bool written = write_file(*item);
    lock.lock();
    writing_ = false;
    pending_bytes_ -= item->payload.size();
    if (auto it = pending_.find(item->key); it != pending_.end() && it->second == item)
      pending_.erase(it);
    if (written) {
      if (item->generation == generation_) {
        insert_locked(item->key);
        ++stats_.stores_total;
      } else {
        std::error_code ec;  // cleared while it was written
        std::filesystem::remove(file_of(item->key), ec);
      }
    } else {
      ++stats_.dropped_total;
    }
    idle_.notify_all();  // flush() and put_waiting() wait for this
  }
}

bool DiskKvTier::write_file(const Pending& item) {
  Header header;
  header.fingerprint_hi = options_.fingerprint.hi;
  header.fingerprint_lo = options_.fingerprint.lo;
  header.key_hi = item.key.hi;
  header.key_lo = item.key.lo;
  header.payload_bytes = item.payload.size();
  header.checksum = checksum_of(header, item.payload);
  const std::filesystem::path temp =
      options_.dir / (std::string(kTempPrefix) + hex_of(item.key) + "-" +
                      std::to_string(::getpid()) + "-" + std::to_string(temp_counter_++));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = write_all(fd, &header, sizeof(header)) &&
                  write_all(fd, item.payload.data(), item.payload.size());
  // No fsync: a crash of the daemon keeps the page cache; after a power loss the checksum
  // catches a file whose data never reached the disk.
  if (::close(fd) != 0 || !ok || ::rename(temp.c_str(), file_of(item.key).c_str()) != 0) {
    ::unlink(temp.c_str());
    return false;
  }
  return true;
}

void DiskKvTier::insert_locked(const BlockHash& key) {
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.splice(lru_.end(), lru_, it->second.lru);
    return;
  }
  while (!lru_.empty() && (index_.size() + 1) * file_bytes() > options_.budget_bytes) {
    erase_locked(lru_.front(), true);
    ++stats_.evictions_total;
  }
  lru_.push_back(key);
  index_.emplace(key, Indexed{std::prev(lru_.end())});
}

void DiskKvTier::erase_locked(const BlockHash& key, bool unlink_file) {
  // `key` may be the LRU entry erased below (eviction passes lru_.front()): keep a copy.
  const BlockHash owned = key;
  auto it = index_.find(owned);
  if (it == index_.end()) return;
  lru_.erase(it->second.lru);
  index_.erase(it);
  if (unlink_file) ::unlink(file_of(owned).c_str());
}

void DiskKvTier::reject(const BlockHash& key) {
  std::lock_guard lock(mutex_);
  erase_locked(key, true);
  ++stats_.rejected_total;
}

bool DiskKvTier::get(const BlockHash& key, std::span<std::byte> out) {
  if (out.size() != options_.payload_bytes) return false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = pending_.find(key); it != pending_.end()) {
      // Not on disk yet: the queued copy is the same bytes.
      std::memcpy(out.data(), it->second->payload.data(), out.size());
      ++stats_.hits_total;
      return true;
    }
    if (!index_.contains(key)) return false;
  }
  const int fd = ::open(file_of(key).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  Header header;
  struct stat st {};
  bool ok = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<uint64_t>(st.st_size) == file_bytes() &&
            read_all(fd, &header, sizeof(header), 0) &&
            read_all(fd, out.data(), out.size(), static_cast<off_t>(kHeaderBytes)) &&
            header.magic == kMagic && header.version == kFormatVersion &&
            header.header_bytes == kHeaderBytes &&
            header.fingerprint_hi == options_.fingerprint.hi &&
            header.fingerprint_lo == options_.fingerprint.lo && header.key_hi == key.hi &&
            header.key_lo == key.lo && header.payload_bytes == out.size() &&
            header.checksum == checksum_of(header, out);
  if (ok) ::futimens(fd, nullptr);  // the LRU order on disk, for the next start
  if (fd >= 0) ::close(fd);
  if (!ok) {
    reject(key);  // deleted, truncated, flipped: recomputed by the caller
    return false;
  }
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) lru_.splice(lru_.end(), lru_, it->second.lru);
  ++stats_.hits_total;
  return true;
}

void DiskKvTier::clear() {
  std::lock_guard lock(mutex_);
  ++generation_;
  for (const auto& item : queue_)
    pending_bytes_ -= item->payload.size();
  queue_.clear();
  pending_.clear();
  while (!lru_.empty())
    erase_locked(lru_.front(), true);
  if (queue_.empty() && !writing_) idle_.notify_all();
}

void DiskKvTier::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return (queue_.empty() && !writing_) || !writer_.joinable(); });
}

KvTierStats DiskKvTier::stats() const {
  std::lock_guard lock(mutex_);
  KvTierStats out = stats_;
  out.num_blocks = index_.size();
  out.num_bytes = index_.size() * file_bytes();
  return out;
}

}  // namespace mm
