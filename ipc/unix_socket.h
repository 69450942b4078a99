// The Unix domain socket beside each shared-memory connection: connecting, the peer's
// credentials (SO_PEERCRED), passing the segment's descriptor (SCM_RIGHTS), and one-byte
// wake-ups so that a side waiting for its ring blocks in the kernel instead of spinning.
// Free functions on descriptors; thread-safe as the system calls are.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

namespace mm::ipc {

// Removes a stale socket file at `path`, binds, sets `mode`, listens. The descriptor is
// non-blocking and close-on-exec. Throws std::runtime_error naming the path.
int listen_unix(const std::string& path, mode_t mode);
// Connects (blocking). Throws std::runtime_error naming the path and the error.
int connect_unix(const std::string& path);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
PeerCredentials peer_credentials(int socket_fd);

// Sends `bytes` with `fd` attached. Throws on failure.
void send_with_fd(int socket_fd, std::span<const char> bytes, int fd);
// Receives exactly `out.size()` bytes before `timeout`, and the descriptor attached to them
// if any (-1 otherwise). Throws std::runtime_error saying what failed (timeout, closed).
int receive_with_fd(int socket_fd, std::span<char> out, std::chrono::milliseconds timeout);

// Sends one wake-up byte without blocking; a full socket buffer already holds wake-ups, so
// EAGAIN is not an error. False when the peer is gone.
bool send_wake(int socket_fd);
// Reads every pending wake-up byte without blocking. False when the peer closed or failed.
bool drain_wakes(int socket_fd);
// Blocks until the socket is readable or the timeout passes (negative: forever).
// True when readable (data, or the peer closed).
bool wait_readable(int socket_fd, std::chrono::milliseconds timeout);

}  // namespace mm::ipc
