#include "ipc/shm_ring.h"

#include <cstring>
#include <new>
#include <stdexcept>

namespace mm::ipc {

ShmRing::ShmRing(void* base, uint64_t capacity)
    : header_(static_cast<RingHeader*>(base)),
      data_(static_cast<char*>(base) + sizeof(RingHeader)),
      capacity_(capacity) {}

ShmRing ShmRing::create(void* base, uint64_t capacity) {
  if (capacity < 64 || (capacity & (capacity - 1)) != 0) {
    throw std::invalid_argument("ring capacity " + std::to_string(capacity) +
                                " is not a power of two of at least 64 bytes");
  }
  auto* header = new (base) RingHeader{};
  header->write_pos.store(0);
  header->read_pos.store(0);
  header->reader_waiting.store(0);
  header->writer_waiting.store(0);
  header->capacity = capacity;
  return ShmRing(base, capacity);
}

void ShmRing::copy_in(uint64_t pos, const char* src, size_t n) {
  const uint64_t offset = pos & (capacity_ - 1);
  const size_t first = std::min<uint64_t>(n, capacity_ - offset);
  std::memcpy(data_ + offset, src, first);
  std::memcpy(data_, src + first, n - first);
}

void ShmRing::copy_out(uint64_t pos, char* dst, size_t n) const {
  const uint64_t offset = pos & (capacity_ - 1);
  const size_t first = std::min<uint64_t>(n, capacity_ - offset);
  std::memcpy(dst, data_ + offset, first);
  std::memcpy(dst + first, data_, n - first);
}

bool ShmRing::has_room_for(size_t frame_bytes) const {
  const uint64_t write = header_->write_pos.load(std::memory_order_relaxed);
  const uint64_t read = header_->read_pos.load(std::memory_order_acquire);
  const uint64_t used = write - read;
  // A peer that moved read_pos past write_pos gets a ring that reports full; its reads fail.
  return used <= capacity_ && capacity_ - used >= frame_bytes + kFrameHeaderBytes;
}

bool ShmRing::try_write(std::span<const char> frame) {
  if (frame.size() > max_frame_bytes()) {
    throw std::length_error("frame of " + std::to_string(frame.size()) +
                            " bytes exceeds the ring's limit of " +
                            std::to_string(max_frame_bytes()) + " bytes");
  }
  if (!has_room_for(frame.size())) return false;
  const uint64_t write = header_->write_pos.load(std::memory_order_relaxed);
  const auto length = static_cast<uint32_t>(frame.size());
  char prefix[kFrameHeaderBytes];
  for (size_t i = 0; i < kFrameHeaderBytes; ++i)
    prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  copy_in(write, prefix, kFrameHeaderBytes);
  copy_in(write + kFrameHeaderBytes, frame.data(), frame.size());
  // seq_cst pairs with arm_reader_wait: either the reader sees this position, or the writer
  // sees its waiting flag (no lost wake-up).
  header_->write_pos.store(write + kFrameHeaderBytes + frame.size(), std::memory_order_seq_cst);
  return true;
}

bool ShmRing::take_reader_waiting() {
  if (header_->reader_waiting.load(std::memory_order_seq_cst) == 0) return false;
  return header_->reader_waiting.exchange(0, std::memory_order_seq_cst) != 0;
}

void ShmRing::set_writer_waiting() {
  header_->writer_waiting.store(1, std::memory_order_seq_cst);
}

ShmRing::ReadResult ShmRing::read(std::string& out) {
  // Each shared index is loaded once and checked; the peer may change it at any moment.
  const uint64_t read = header_->read_pos.load(std::memory_order_relaxed);
  const uint64_t write = header_->write_pos.load(std::memory_order_acquire);
  const uint64_t available = write - read;
  if (available == 0) return ReadResult::kEmpty;
  if (available > capacity_ || available < kFrameHeaderBytes) return ReadResult::kCorrupt;
  unsigned char prefix[kFrameHeaderBytes];
  copy_out(read, reinterpret_cast<char*>(prefix), kFrameHeaderBytes);
  uint32_t length = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i)
    length |= static_cast<uint32_t>(prefix[i]) << (8 * i);
  if (length > available - kFrameHeaderBytes) return ReadResult::kCorrupt;
  out.resize(length);
  copy_out(read + kFrameHeaderBytes, out.data(), length);
  header_->read_pos.store(read + kFrameHeaderBytes + length, std::memory_order_seq_cst);
  return ReadResult::kFrame;
}

bool ShmRing::arm_reader_wait() {
  header_->reader_waiting.store(1, std::memory_order_seq_cst);
  const uint64_t read = header_->read_pos.load(std::memory_order_relaxed);
  if (header_->write_pos.load(std::memory_order_seq_cst) != read) {
    header_->reader_waiting.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

bool ShmRing::take_writer_waiting() {
  if (header_->writer_waiting.load(std::memory_order_seq_cst) == 0) return false;
  return header_->writer_waiting.exchange(0, std::memory_order_seq_cst) != 0;
}

uint64_t ShmRing::used_bytes() const {
  return header_->write_pos.load() - header_->read_pos.load();
}

}  // namespace mm::ipc
