// The D-Bus service as one of the daemon's frontends: started on the loop thread once the
// engine exists, told when the drain begins (new D-Bus requests are then refused), closed at
// shutdown. Owned by the Daemon; every method runs on the loop thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

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
  // Refuses new D-Bus requests, then reports drained once the engine has nothing running or
  // waiting (every frontend drains at once, so that includes the D-Bus requests). The check
  // runs on a loop timer only during the drain.
  void begin_drain(std::function<void()> on_drained) override;
  void close() override;

 private:
  static void on_timer(uv_timer_t* timer);

  DbusServiceOptions options_;
  bool required_ = true;
  Engine* engine_ = nullptr;
  std::unique_ptr<DbusService> service_;
  uv_timer_t timer_{};
  bool timer_started_ = false;
  std::function<void()> on_drained_;
};

}  // namespace mm
