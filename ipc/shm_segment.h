// One connection's private shared-memory segment: a small header, then the ring the client
// writes (to the daemon), then the ring the daemon writes (to the client). The daemon creates
// it with Boost.Interprocess (mode 0600, owned by the daemon's user, or by the connecting user
// when the daemon runs as root), passes the descriptor over the Unix socket (SCM_RIGHTS) and
// removes the name as soon as the client has mapped it; the memory goes when both unmap.
// Owned by one connection's thread on each side; not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ipc/shm_ring.h"

namespace mm::ipc {

inline constexpr uint32_t kSegmentMagic = 0x4d4d4453;  // "MMDS"
inline constexpr uint32_t kSegmentVersion = 1;

struct alignas(64) SegmentHeader {
  uint32_t magic;
  uint32_t version;
  uint64_t to_daemon_capacity;
  uint64_t to_client_capacity;
};

class ShmSegment {
 public:
  ShmSegment();
  ~ShmSegment();
  ShmSegment(ShmSegment&&) noexcept;
  ShmSegment& operator=(ShmSegment&&) noexcept;

  // Daemon side. `name` is a POSIX shm name without the slash. Capacities are powers of two.
  // When owner_uid is set and the daemon may chown, the segment is given to that user.
  // Throws std::runtime_error naming the segment and the system error.
  static ShmSegment create(const std::string& name, uint64_t to_daemon_capacity,
                           uint64_t to_client_capacity, std::optional<uid_t> owner_uid = {});
  // Client side: maps the descriptor the daemon passed (and closes it). Checks the header
  // against the descriptor's size; throws std::runtime_error saying what is wrong.
  static ShmSegment attach(int fd);

  static size_t total_bytes(uint64_t to_daemon_capacity, uint64_t to_client_capacity);

  int fd() const;  // daemon side: the descriptor to pass to the client
  const std::string& name() const { return name_; }
  size_t size() const { return size_; }
  void unlink();  // daemon side: removes the name (idempotent)

  ShmRing& to_daemon() { return to_daemon_; }
  ShmRing& to_client() { return to_client_; }

 private:
  void swap(ShmSegment& other) noexcept;
  struct Boost;  // the daemon side's Boost.Interprocess objects
  std::unique_ptr<Boost> boost_;
  void* mapped_ = nullptr;  // client side: our own mmap
  size_t size_ = 0;
  std::string name_;
  ShmRing to_daemon_;
  ShmRing to_client_;
};

}  // namespace mm::ipc
