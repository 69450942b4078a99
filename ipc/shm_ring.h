// A single-producer single-consumer ring of length-prefixed frames in shared memory. One side
// of a connection writes, the other reads; the two sides are different processes that do not
// trust each other, so every index read from the shared header is checked before use and a
// bad one reports kCorrupt instead of reading out of bounds.
//
// Waiting never spins: a reader that finds the ring empty sets `reader_waiting` and blocks on
// the connection's Unix socket; a writer that finds it set after publishing sends one wake-up
// byte there. The same pair of flags covers a writer waiting for space.
//
// Not thread-safe: one thread reads and one thread writes a given ring (the owner of the
// connection on each side).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mm::ipc {

struct alignas(64) RingHeader {
  std::atomic<uint64_t> write_pos;  // bytes ever written; only the writer stores it
  char pad0[56];
  std::atomic<uint64_t> read_pos;  // bytes ever consumed; only the reader stores it
  char pad1[56];
  std::atomic<uint32_t> reader_waiting;  // the reader sleeps until the writer wakes it
  std::atomic<uint32_t> writer_waiting;  // the writer sleeps until the reader frees space
  uint64_t capacity;  // data bytes after the header; a power of two
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "the ring needs lock-free atomics");

class ShmRing {
 public:
  // Frames carry a 4-byte little-endian length before their bytes.
  static constexpr size_t kFrameHeaderBytes = 4;

  // Bytes of shared memory a ring with `capacity` data bytes occupies.
  static size_t footprint(uint64_t capacity) { return sizeof(RingHeader) + capacity; }

  ShmRing() = default;
  // Views an existing ring at `base`; `capacity` is what the segment header says.
  ShmRing(void* base, uint64_t capacity);
  // Writes a fresh header (positions 0) at `base`. The creating side calls this once.
  static ShmRing create(void* base, uint64_t capacity);

  uint64_t capacity() const { return capacity_; }
  // The largest frame a ring of this capacity can carry.
  size_t max_frame_bytes() const { return capacity_ - kFrameHeaderBytes; }

  // Writer side. False when there is not room now (nothing written). Throws
  // std::length_error naming the sizes when the frame could never fit.
  bool try_write(std::span<const char> frame);
  // Writer side, after a successful write: true when the reader asked to be woken (the flag
  // is cleared); the caller then sends one wake-up byte.
  bool take_reader_waiting();
  // Writer side, when try_write failed: announce the wait, then re-check for room.
  void set_writer_waiting();
  bool has_room_for(size_t frame_bytes) const;

  enum class ReadResult : uint8_t { kFrame, kEmpty, kCorrupt };
  // Reader side. On kFrame `out` holds one frame's bytes. kCorrupt: the header or a length
  // prefix is impossible (written by a broken or hostile peer); the ring is unusable.
  ReadResult read(std::string& out);
  // Reader side: announce the wait; returns false (and withdraws it) when data arrived in the
  // meantime, so the caller reads again instead of blocking.
  bool arm_reader_wait();
  // Reader side, after consuming: true when the writer asked to be woken (flag cleared).
  bool take_writer_waiting();

  uint64_t used_bytes() const;  // for tests and status

 private:
  void copy_in(uint64_t pos, const char* src, size_t n);
  void copy_out(uint64_t pos, char* dst, size_t n) const;

  RingHeader* header_ = nullptr;
  char* data_ = nullptr;
  uint64_t capacity_ = 0;
};

}  // namespace mm::ipc
