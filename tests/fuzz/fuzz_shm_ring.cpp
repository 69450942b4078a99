// Fuzzes the shared-memory rings as the daemon uses them (ipc/shm_ring.cpp through
// ipc/frame_endpoint.cpp) against a hostile client, which can write anything into the
// segment at any time: ring headers (positions, wait flags), length prefixes and data.
//
// Input: byte 0 picks both rings' capacity (64 << (b % 5)); then the to-daemon ring's
// write_pos, read_pos (8 bytes each, little-endian) and wait flags (4 bytes each); then its
// data bytes (capacity of them, zeros when short); the rest is a script of client and daemon
// steps (see `step`). Each ring lives in its own heap block of exactly its footprint, so any
// access outside it is an AddressSanitizer report.
//
// Checks: the daemon never reads or writes outside a ring, never gets a frame longer than the
// ring allows, moves read_pos by exactly one frame; a ring it found corrupt stays unread (the
// daemon closes such a connection); and while the client has not tampered with a ring, every
// frame arrives intact and in order in both directions.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <stdexcept>
#include <string>

#include "ipc/frame_endpoint.h"
#include "ipc/shm_ring.h"
#include "ipc/unix_socket.h"

namespace {

using mm::ipc::FrameEndpoint;
using mm::ipc::RingHeader;
using mm::ipc::ShmRing;

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool empty() const { return at >= size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= uint64_t{byte()} << (8 * i);
    return v;
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= uint32_t{byte()} << (8 * i);
    return v;
  }
};

// A ring in a heap block of exactly its footprint.
struct HeapRing {
  explicit HeapRing(uint64_t capacity)
      // The header is 64-byte aligned, as in the segment; footprints are multiples of 64.
      : memory(static_cast<char*>(std::aligned_alloc(64, ShmRing::footprint(capacity)))),
        ring(ShmRing::create(memory, capacity)) {}
  ~HeapRing() {
    header()->~RingHeader();
    std::free(memory);
  }
  HeapRing(const HeapRing&) = delete;
  HeapRing& operator=(const HeapRing&) = delete;
  RingHeader* header() { return reinterpret_cast<RingHeader*>(memory); }
  char* bytes() { return memory + sizeof(RingHeader); }
  char* memory;
  ShmRing ring;  // the client's view of the same memory
};

// The wake-up socket pair: the daemon's end and the client's (drained after each step).
struct Sockets {
  Sockets() {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
      __builtin_trap();
  }
  int fds[2];
};

std::string frame_of(Reader& in, size_t length) {
  std::string frame(length, '\0');
  for (size_t i = 0; i < length; ++i)
    frame[i] = static_cast<char>(in.byte());
  return frame;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Sockets sockets;
  Reader in{data, size};
  const uint64_t capacity = uint64_t{64} << (in.byte() % 5);
  HeapRing to_daemon(capacity);
  HeapRing to_client(capacity);

  // The state the client left the to-daemon ring in.
  RingHeader* incoming = to_daemon.header();
  incoming->write_pos.store(in.u64());
  incoming->read_pos.store(in.u64());
  incoming->reader_waiting.store(in.u32());
  incoming->writer_waiting.store(in.u32());
  for (uint64_t i = 0; i < capacity; ++i)
    to_daemon.bytes()[i] = static_cast<char>(in.byte());
  // A ring that starts empty at 0 is one a well-behaved client could hold.
  bool incoming_honest = incoming->write_pos.load() == 0 && incoming->read_pos.load() == 0;
  bool outgoing_honest = true;
  bool corrupt = false;

  FrameEndpoint daemon(sockets.fds[0], to_client.ring, to_daemon.ring);
  std::deque<std::string> sent_to_daemon;  // by the honest client, not yet read
  std::deque<std::string> sent_to_client;  // by the daemon, not yet read

  for (int steps = 0; steps < 256 && !in.empty(); ++steps) {
    const uint8_t op = in.byte();
    switch (op % 8) {
      case 0: {  // the daemon reads a frame, as its connection does on a wake-up
        if (corrupt) break;
        const uint64_t read_before = incoming->read_pos.load();
        std::string out;
        const auto result = daemon.try_receive(out);
        if (result == ShmRing::ReadResult::kCorrupt) {
          if (incoming_honest) __builtin_trap();
          corrupt = true;
        } else if (result == ShmRing::ReadResult::kFrame) {
          if (out.size() > capacity - ShmRing::kFrameHeaderBytes) __builtin_trap();
          if (incoming->read_pos.load() != read_before + ShmRing::kFrameHeaderBytes + out.size())
            __builtin_trap();
          if (incoming_honest) {
            if (sent_to_daemon.empty() || sent_to_daemon.front() != out) __builtin_trap();
            sent_to_daemon.pop_front();
          }
        } else if (incoming_honest && !sent_to_daemon.empty()) {
          __builtin_trap();
        }
        break;
      }
      case 1: {  // the client writes a frame properly
        const std::string frame = frame_of(in, in.byte() % capacity);
        try {
          if (to_daemon.ring.try_write(frame) && incoming_honest) sent_to_daemon.push_back(frame);
        } catch (const std::length_error&) {
          if (frame.size() <= to_daemon.ring.max_frame_bytes()) __builtin_trap();
        }
        break;
      }
      case 2: {  // the daemon sends a reply
        const std::string frame = frame_of(in, in.byte() % capacity);
        try {
          const bool room = daemon.has_room_for(frame.size());
          const bool sent = daemon.try_send(frame);
          if (sent != room) __builtin_trap();
          if (sent && outgoing_honest) sent_to_client.push_back(frame);
        } catch (const std::length_error&) {
          if (frame.size() <= daemon.max_frame_bytes()) __builtin_trap();
        }
        break;
      }
      case 3: {  // the client reads a reply properly
        if (!outgoing_honest) break;
        std::string out;
        const auto result = to_client.ring.read(out);
        if (result == ShmRing::ReadResult::kCorrupt) __builtin_trap();
        if (result == ShmRing::ReadResult::kFrame) {
          if (sent_to_client.empty() || sent_to_client.front() != out) __builtin_trap();
          sent_to_client.pop_front();
        } else if (!sent_to_client.empty()) {
          __builtin_trap();
        }
        break;
      }
      case 4: {  // the client moves a position of the to-daemon ring
        const uint64_t delta = in.u64();
        if (in.byte() & 1) {
          incoming->write_pos.store(incoming->read_pos.load() + delta);
        } else {
          incoming->read_pos.store(incoming->write_pos.load() - delta);
        }
        incoming_honest = false;
        break;
      }
      case 5: {  // the client moves a position of the ring it reads
        const uint64_t delta = in.u64();
        RingHeader* outgoing = to_client.header();
        if (in.byte() & 1) {
          outgoing->read_pos.store(outgoing->write_pos.load() - delta);
        } else {
          outgoing->write_pos.store(outgoing->read_pos.load() + delta);
        }
        outgoing_honest = false;
        break;
      }
      case 6: {  // the client scribbles over a length prefix or data
        const uint64_t at = in.u64();
        to_daemon.bytes()[at & (capacity - 1)] = static_cast<char>(in.byte());
        if (!sent_to_daemon.empty()) incoming_honest = false;
        break;
      }
      case 7: {  // the client sets the wait flags; the daemon then prepares to wait
        const uint8_t flags = in.byte();
        incoming->reader_waiting.store(flags & 1);
        incoming->writer_waiting.store((flags >> 1) & 1);
        to_client.header()->reader_waiting.store((flags >> 2) & 1);
        to_client.header()->writer_waiting.store((flags >> 3) & 1);
        if (flags & 16) {
          const bool may_sleep = daemon.prepare_wait_for_frame();
          if (incoming_honest && may_sleep && !sent_to_daemon.empty()) __builtin_trap();
        } else {
          daemon.prepare_wait_for_room();
        }
        break;
      }
    }
    if (!mm::ipc::drain_wakes(sockets.fds[1])) __builtin_trap();
  }
  if (daemon.peer_closed()) __builtin_trap();  // the socket pair stays open
  return 0;
}
