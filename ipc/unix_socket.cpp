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

int listen_unix(const std::string& path, mode_t mode) {
  const sockaddr_un address = address_of(path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket for " + path);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail("bind " + path);
  }
  if (::chmod(path.c_str(), mode) != 0 || ::listen(fd, 128) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail("listen on " + path);
  }
  return fd;
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
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS &&
          received_fd < 0) {
        std::memcpy(&received_fd, CMSG_DATA(header), sizeof received_fd);
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
