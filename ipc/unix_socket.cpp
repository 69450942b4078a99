#include "ipc/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mm::ipc {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    throw std::runtime_error("socket path " + path + " is longer than " +
                             std::to_string(sizeof(address.sun_path) - 1) + " bytes");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

}  // namespace

namespace {

// What is at `path` before we bind: nothing, a stale socket (removed), or a live one (refused).
void clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode))
    throw std::runtime_error(path + " exists and is not a socket; refusing to replace it");
  const sockaddr_un address = address_of(path);
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) fail("socket for " + path);
  if (::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    ucred cred{};
    socklen_t length = sizeof cred;
    const bool known = ::getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0;
    ::close(probe);
    throw std::runtime_error(
        "another daemon answers on " + path +
        (known ? " (pid " + std::to_string(cred.pid) + ", uid " + std::to_string(cred.uid) + ")"
               : std::string()) +
        "; stop it or pick another --socket");
  }
  const int error = errno;
  ::close(probe);
  // ECONNREFUSED: a socket file nobody listens on (a daemon that died); anything else
  // (EACCES, EAGAIN: a full backlog of a live daemon) is not proof that it is stale.
  if (error != ECONNREFUSED) {
    errno = error;
    fail("cannot tell whether " + path + " is in use");
  }
  ::unlink(path.c_str());
}

}  // namespace

int listen_unix(const std::string& path, mode_t mode, gid_t group) {
  const sockaddr_un address = address_of(path);
  clear_stale_socket(path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket for " + path);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail("bind " + path);
  }
  const auto undo = [&](const std::string& what) {
    const int error = errno;
    ::unlink(path.c_str());
    ::close(fd);
    errno = error;
    fail(what);
  };
  if (group != static_cast<gid_t>(-1) && ::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0)
    undo("give " + path + " to group " + std::to_string(group));
  if (::chmod(path.c_str(), mode) != 0) undo("chmod " + path);
  if (::listen(fd, 128) != 0) undo("listen on " + path);
  return fd;
}

SocketFileId socket_file_id(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return SocketFileId{st.st_dev, st.st_ino};
}

void unlink_socket_file_if(const std::string& path, SocketFileId ours) {
  const SocketFileId there = socket_file_id(path);
  if (ours.inode != 0 && there.inode == ours.inode && there.device == ours.device)
    ::unlink(path.c_str());
}

int connect_unix(const std::string& path) {
  const sockaddr_un address = address_of(path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket for " + path);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail("connect to " + path);
  }
  return fd;
}

PeerCredentials peer_credentials(int socket_fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) fail("SO_PEERCRED");
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

std::vector<gid_t> peer_groups(int socket_fd) {
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
      groups.resize(length / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) fail("SO_PEERGROUPS");
    groups.resize(length / sizeof(gid_t) + 1);
  }
}

void send_with_fd(int socket_fd, std::span<const char> bytes, int fd) {
  msghdr message{};
  iovec io{const_cast<char*>(bytes.data()), bytes.size()};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(socket_fd, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(bytes.size())) fail("sending the connection setup");
}

int receive_with_fd(int socket_fd, std::span<char> out, std::chrono::milliseconds timeout) {
  int received_fd = -1;
  size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < out.size()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(socket_fd, left)) {
      if (received_fd >= 0) ::close(received_fd);
      throw std::runtime_error("no connection setup from the daemon within " +
                               std::to_string(timeout.count()) + " ms");
    }
    msghdr message{};
    iovec io{out.data() + got, out.size() - got};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (received_fd >= 0) ::close(received_fd);
      if (n == 0) throw std::runtime_error("the daemon closed the connection during setup");
      fail("receiving the connection setup");
    }
    // Keep the first descriptor; close any other the peer attached (to this piece or a
    // later one, several to one header), so a hostile peer cannot make us leak them.
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
        if (received_fd < 0) {
          received_fd = fd;
        } else {
          ::close(fd);
        }
      }
    }
    got += static_cast<size_t>(n);
  }
  return received_fd;
}

bool send_wake(int socket_fd) {
  const char byte = 1;
  for (;;) {
    const ssize_t n = ::send(socket_fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

bool drain_wakes(int socket_fd) {
  char buffer[256];
  for (;;) {
    const ssize_t n = ::recv(socket_fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

bool wait_readable(int socket_fd, std::chrono::milliseconds timeout) {
  pollfd entry{socket_fd, POLLIN, 0};
  for (;;) {
    const int n = ::poll(&entry, 1, timeout.count() < 0 ? -1 : static_cast<int>(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

}  // namespace mm::ipc
