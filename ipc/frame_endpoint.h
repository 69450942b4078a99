// One side of a connection: the ring it writes, the ring it reads and the socket used for
// wake-ups. Sending or receiving a frame wakes the peer only when the peer said it waits.
// The blocking waits (used by clients) sleep in poll(2); the daemon instead watches the socket
// from its event loop and calls the non-blocking methods.
// Owned by one thread (the connection's owner); not thread-safe.
#pragma once

#include <chrono>
#include <span>
#include <string>

#include "ipc/shm_ring.h"

namespace mm::ipc {

class FrameEndpoint {
 public:
  FrameEndpoint() = default;
  FrameEndpoint(int socket_fd, ShmRing outgoing, ShmRing incoming)
      : socket_fd_(socket_fd), outgoing_(outgoing), incoming_(incoming) {}

  // False when the outgoing ring has no room now (the caller retries after a wake-up, having
  // called prepare_wait_for_room). Throws std::length_error for a frame that can never fit.
  bool try_send(std::span<const char> frame);
  ShmRing::ReadResult try_receive(std::string& out);

  // Before blocking: true when it is safe to sleep until the socket is readable (nothing to
  // read arrived in between).
  bool prepare_wait_for_frame() { return incoming_.arm_reader_wait(); }
  void prepare_wait_for_room() { outgoing_.set_writer_waiting(); }
  bool has_room_for(size_t frame_bytes) const { return outgoing_.has_room_for(frame_bytes); }

  // Blocking (clients): send, waiting for room up to `timeout`; false on timeout or when the
  // peer is gone.
  bool send(std::span<const char> frame, std::chrono::milliseconds timeout);
  // Blocking (clients): a frame, kEmpty on timeout, or kCorrupt. Sets peer_closed() when the
  // socket reports the peer gone.
  ShmRing::ReadResult receive(std::string& out, std::chrono::milliseconds timeout);

  bool peer_closed() const { return peer_closed_; }
  int socket_fd() const { return socket_fd_; }
  size_t max_frame_bytes() const { return outgoing_.max_frame_bytes(); }

 private:
  bool wait_socket(std::chrono::steady_clock::time_point deadline);

  int socket_fd_ = -1;
  ShmRing outgoing_;
  ShmRing incoming_;
  bool peer_closed_ = false;
};

}  // namespace mm::ipc
