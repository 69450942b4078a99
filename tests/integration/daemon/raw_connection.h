// A shared-memory connection for tests that speak the protocol by hand: the handshake, then
// arbitrary frames (forged, floods, never read). Not thread-safe; one per test thread.
#pragma once

#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "ipc/codec.h"
#include "ipc/frame_endpoint.h"
#include "ipc/handshake.h"
#include "ipc/unix_socket.h"

namespace mm::testing {

struct RawConnection {
  int fd = -1;
  ipc::ShmSegment segment;
  ipc::FrameEndpoint endpoint;
  explicit RawConnection(const std::string& path) {
    fd = ipc::connect_unix(path);
    segment = ipc::receive_setup(fd, std::chrono::seconds(10));
    endpoint = ipc::FrameEndpoint(fd, segment.to_daemon(), segment.to_client());
  }
  ~RawConnection() { ::close(fd); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  ipc::ServerFrame receive(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string bytes;
    const auto result = endpoint.receive(bytes, timeout);
    if (result != ipc::ShmRing::ReadResult::kFrame) throw std::runtime_error("no frame");
    return ipc::decode_server_frame(bytes);
  }
  bool closed_by_daemon() {
    std::string bytes;
    return endpoint.receive(bytes, std::chrono::seconds(10)) == ipc::ShmRing::ReadResult::kEmpty &&
           endpoint.peer_closed();
  }
  // Hello, and its reply read.
  void hello() {
    if (!endpoint.send(ipc::encode(ipc::ClientFrame{1, ipc::Hello{}}), std::chrono::seconds(5)))
      throw std::runtime_error("Hello not sent");
    receive();
  }
};

}  // namespace mm::testing
