#include "daemon/service/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/service/log.h"

namespace mm {

SdNotifier::SdNotifier() {
  if (const char* period = std::getenv("WATCHDOG_USEC")) {
    const char* pid = std::getenv("WATCHDOG_PID");
    const bool for_us = pid == nullptr || std::strtol(pid, nullptr, 10) == ::getpid();
    const long long usec = std::strtoll(period, nullptr, 10);
    if (for_us && usec > 0) watchdog_period_ = std::chrono::microseconds(usec);
  }
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@') ||
      std::strlen(path) >= sizeof(sockaddr_un::sun_path)) {
    return;
  }
  address_ = path;
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

SdNotifier::~SdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool SdNotifier::notify(std::string_view state) {
  if (fd_ < 0) return true;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, address_.data(), address_.size());
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';  // abstract namespace
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  // MSG_DONTWAIT: a receiver that stopped reading must not stall the loop thread (a full
  // queue drops this datagram, as a watchdog ping that systemd would miss anyway).
  const ssize_t sent = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                                reinterpret_cast<const sockaddr*>(&address), length);
  if (sent == static_cast<ssize_t>(state.size())) return true;
  if (!warned_) {
    warned_ = true;
    log_warning("sd_notify to " + address_ + " failed: " + std::strerror(errno));
  }
  return false;
}

}  // namespace mm
