#include "daemon/service/dbus_frontend.h"

#include <utility>

#include "daemon/engine/engine.h"
#include "daemon/service/log.h"

namespace mm {

DbusFrontend::DbusFrontend(DbusServiceOptions options, bool required)
    : options_(std::move(options)), required_(required) {}

DbusFrontend::~DbusFrontend() = default;

void DbusFrontend::start(uv_loop_t* loop, Engine& engine) {
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
  uv_async_init(loop, &drained_async_, [](uv_async_t* async) {
    auto* self = static_cast<DbusFrontend*>(async->data);
    if (self->on_drained_) std::exchange(self->on_drained_, nullptr)();
  });
  drained_async_.data = this;
  drained_notifier_ = std::make_shared<LoopNotifier>(&drained_async_);
}

void DbusFrontend::begin_drain(std::function<void()> on_drained) {
  if (!service_) {
    on_drained();
    return;
  }
  on_drained_ = std::move(on_drained);
  service_->begin_drain([notifier = drained_notifier_] { notifier->notify(); });
}

void DbusFrontend::close() {
  service_.reset();  // cancels what is left and releases the name; before the engine goes
  if (drained_notifier_) {
    drained_notifier_->detach();
    drained_notifier_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&drained_async_), nullptr);
  }
}

}  // namespace mm
