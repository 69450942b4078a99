#include "ipc/handshake.h"

#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "ipc/protocol.h"
#include "ipc/unix_socket.h"

namespace mm::ipc {

namespace {
constexpr char kSetupMagic[8] = "MMDSHM1";
}

void send_setup(int socket_fd, const ShmSegment& segment) {
  SetupMessage message{};
  std::memcpy(message.magic, kSetupMagic, sizeof message.magic);
  message.protocol_version = kProtocolVersion;
  message.accepted = 1;
  message.segment_bytes = segment.size();
  send_with_fd(socket_fd, {reinterpret_cast<const char*>(&message), sizeof message}, segment.fd());
}

void send_refusal(int socket_fd, const std::string& why) {
  SetupMessage message{};
  std::memcpy(message.magic, kSetupMagic, sizeof message.magic);
  message.protocol_version = kProtocolVersion;
  message.accepted = 0;
  std::strncpy(message.refusal, why.c_str(), sizeof message.refusal - 1);
  send_with_fd(socket_fd, {reinterpret_cast<const char*>(&message), sizeof message}, -1);
}

ShmSegment receive_setup(int socket_fd, std::chrono::milliseconds timeout) {
  SetupMessage message{};
  const int fd =
      receive_with_fd(socket_fd, {reinterpret_cast<char*>(&message), sizeof message}, timeout);
  if (std::memcmp(message.magic, kSetupMagic, sizeof message.magic) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("the socket's peer is not an mmd daemon (bad setup magic)");
  }
  if (message.accepted == 0) {
    if (fd >= 0) ::close(fd);
    message.refusal[sizeof message.refusal - 1] = '\0';
    throw std::runtime_error(std::string("the daemon refused the connection: ") + message.refusal);
  }
  if (fd < 0) throw std::runtime_error("the daemon's setup carried no shared-memory descriptor");
  ShmSegment segment = ShmSegment::attach(fd);
  if (segment.size() != message.segment_bytes) {
    throw std::runtime_error("shared memory segment is " + std::to_string(segment.size()) +
                             " bytes, the setup said " + std::to_string(message.segment_bytes));
  }
  return segment;
}

}  // namespace mm::ipc
