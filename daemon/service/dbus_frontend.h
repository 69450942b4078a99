// The D-Bus service as one of the daemon's frontends: started on the loop thread once the
// engine exists, told when the drain begins (new D-Bus requests are then refused), closed at
// shutdown. Owned by the Daemon; every method runs on the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "daemon/frontends/connection_mailbox.h"
#include "daemon/frontends/dbus/dbus_service.h"
#include "daemon/service/frontend.h"

namespace mm {

class DbusFrontend : public Frontend {
 public:
  // `required`: a bus or name that cannot be had stops the daemon (an explicit --bus);
  // otherwise (--bus auto) mmd logs why and serves without D-Bus.
  DbusFrontend(DbusServiceOptions options, bool required);
  ~DbusFrontend() override;

  void start(uv_loop_t* loop, Engine& engine) override;
  // Refuses new D-Bus requests, then reports drained once the requests started over D-Bus
  // have finished (the service thread says so through a uv_async: nothing polls).
  void begin_drain(std::function<void()> on_drained) override;
  void close() override;

 private:
  DbusServiceOptions options_;
  bool required_ = true;
  std::unique_ptr<DbusService> service_;
  uv_async_t drained_async_{};
  std::shared_ptr<LoopNotifier> drained_notifier_;  // null until start() served
  std::function<void()> on_drained_;
};

}  // namespace mm
