// systemd's notification protocol, self-contained (as systemd's
// man/notify-selfcontained-example.c): datagrams of "KEY=value" lines to $NOTIFY_SOCKET
// (a path, or '@' for the abstract namespace). Without NOTIFY_SOCKET every call is a no-op,
// so a test can own that socket and read what mmd says.
// Thread-safe (one sendto per call).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mm {

class SdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
  SdNotifier();
  ~SdNotifier();
  SdNotifier(const SdNotifier&) = delete;
  SdNotifier& operator=(const SdNotifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // Sends `state` ("READY=1\nSTATUS=..."). False when it could not be sent (logged once).
  bool notify(std::string_view state);
  // The watchdog period systemd asked for (WatchdogSec=), when it is meant for this process.
  std::optional<std::chrono::microseconds> watchdog_period() const { return watchdog_period_; }

 private:
  int fd_ = -1;
  std::string address_;
  std::optional<std::chrono::microseconds> watchdog_period_;
  bool warned_ = false;
};

}  // namespace mm
