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
#include <vector>

namespace mm::ipc {

// Binds, sets `mode` (and the group `group`, unless it is -1), listens. The descriptor is
// non-blocking and close-on-exec. A stale socket file at `path` (nothing answers on it) is
// replaced; a live one is not: throws std::runtime_error naming the path and the process that
// answers there, as does any other failure. Not a socket at `path`: refused too.
int listen_unix(const std::string& path, mode_t mode, gid_t group = static_cast<gid_t>(-1));
// Which file is at `path` (device and inode; zeros when nothing is), to tell later whether it
// is still the socket this process bound.
struct SocketFileId {
  dev_t device = 0;
  ino_t inode = 0;
};
SocketFileId socket_file_id(const std::string& path);
// Removes the socket file at `path` only if it is still `ours` (another daemon may have taken
// the path since; its socket must stay).
void unlink_socket_file_if(const std::string& path, SocketFileId ours);
// Connects (blocking). Throws std::runtime_error naming the path and the error.
int connect_unix(const std::string& path);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
PeerCredentials peer_credentials(int socket_fd);
// The peer's supplementary groups at connect time (SO_PEERGROUPS). Throws when unavailable.
std::vector<gid_t> peer_groups(int socket_fd);

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
