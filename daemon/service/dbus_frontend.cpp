#include "daemon/service/dbus_frontend.h"

#include <utility>

#include "daemon/engine/engine.h"
#include "daemon/service/log.h"

namespace mm {

DbusFrontend::DbusFrontend(DbusServiceOptions options, bool required)
    : options_(std::move(options)), required_(required) {}

DbusFrontend::~DbusFrontend() = default;

void DbusFrontend::start(uv_loop_t* loop, Engine& engine) {
  engine_ = &engine;
  try {
    service_ = std::make_unique<DbusService>(engine, options_);
  } catch (const std::exception& error) {
    if (required_) throw;
    log_notice(std::string("D-Bus: not serving (") + error.what() +
               "); pass --bus none to silence this, or --bus system to require it");
    return;
  }
  log_info("D-Bus: serving " + options_.bus_name + " on the " + options_.bus + " bus as " +
           service_->unique_name());
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  timer_started_ = true;
}

void DbusFrontend::begin_drain(std::function<void()> on_drained) {
  if (!service_) {
    on_drained();
    return;
  }
  service_->begin_drain();
  on_drained_ = std::move(on_drained);
  uv_timer_start(&timer_, on_timer, 0, 50);
}

void DbusFrontend::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<DbusFrontend*>(timer->data);
  const EngineStatus status = self->engine_->status();
  if (status.num_running == 0 && status.num_waiting == 0 && self->on_drained_) {
    uv_timer_stop(timer);
    std::exchange(self->on_drained_, nullptr)();
  }
}

void DbusFrontend::close() {
  service_.reset();  // cancels what is left and releases the name; before the engine goes
  if (timer_started_) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    timer_started_ = false;
  }
}

}  // namespace mm
