// The connection setup on the Unix socket, before any msgpack: the daemon answers a new
// connection with one fixed-size SetupMessage, carrying the segment's descriptor when it
// accepts the peer or the reason when it refuses. Everything after it travels in the rings.
// Free functions; no shared state.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "ipc/shm_segment.h"

namespace mm::ipc {

struct SetupMessage {
  char magic[8];  // "MMDSHM1\0"
  uint32_t protocol_version;
  uint32_t accepted;  // 1: the descriptor is attached; 0: `refusal` says why
  uint64_t segment_bytes;
  char refusal[232];
};
static_assert(sizeof(SetupMessage) == 256);

void send_setup(int socket_fd, const ShmSegment& segment);
void send_refusal(int socket_fd, const std::string& why);
// Client side: waits for the daemon's SetupMessage and maps the segment. Throws
// std::runtime_error with the daemon's refusal, or saying what was wrong with the setup.
ShmSegment receive_setup(int socket_fd, std::chrono::milliseconds timeout);

}  // namespace mm::ipc
