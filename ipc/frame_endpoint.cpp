#include "ipc/frame_endpoint.h"

#include "ipc/unix_socket.h"

namespace mm::ipc {

using Clock = std::chrono::steady_clock;

bool FrameEndpoint::try_send(std::span<const char> frame) {
  if (!outgoing_.try_write(frame)) return false;
  if (outgoing_.take_reader_waiting() && !send_wake(socket_fd_)) peer_closed_ = true;
  return true;
}

ShmRing::ReadResult FrameEndpoint::try_receive(std::string& out) {
  const auto result = incoming_.read(out);
  if (result == ShmRing::ReadResult::kFrame && incoming_.take_writer_waiting() &&
      !send_wake(socket_fd_)) {
    peer_closed_ = true;
  }
  return result;
}

bool FrameEndpoint::wait_socket(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  if (!wait_readable(socket_fd_, left)) return false;
  if (!drain_wakes(socket_fd_)) peer_closed_ = true;
  return true;
}

bool FrameEndpoint::send(std::span<const char> frame, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (peer_closed_) return false;
    if (try_send(frame)) return !peer_closed_;
    prepare_wait_for_room();
    if (has_room_for(frame.size())) continue;
    if (!wait_socket(deadline)) return false;
  }
}

ShmRing::ReadResult FrameEndpoint::receive(std::string& out, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto result = try_receive(out);
    if (result != ShmRing::ReadResult::kEmpty || peer_closed_) return result;
    if (!prepare_wait_for_frame()) continue;
    if (!wait_socket(deadline)) return ShmRing::ReadResult::kEmpty;
  }
}

}  // namespace mm::ipc
