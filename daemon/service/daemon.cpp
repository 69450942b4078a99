#include "daemon/service/daemon.h"

#include <csignal>
#include <cstdio>
#include <cstring>

#include "daemon/service/log.h"

namespace mm {

namespace {

// systemd's start timeout is extended by this much at every load report (every
// --load-report-ms), so a long load never trips it while it makes progress, and a hung one
// still does.
constexpr auto kLoadTimeoutExtension = std::chrono::seconds(10);
// After the drain timeout cancels what is left, the daemon waits this long for the last
// replies to reach their rings before it closes the connections anyway.
constexpr auto kFinalFlushGrace = std::chrono::seconds(2);

template <typename Handle>
uv_handle_t* as_handle(Handle* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
  return buffer;
}

}  // namespace

Daemon::Daemon(DaemonConfig config, EngineSetup setup)
    : config_(std::move(config)), setup_(std::move(setup)) {
  uv_loop_init(&loop_);
}

Daemon::~Daemon() {
  if (engine_ && state_watch_ != 0) engine_->unwatch_state(state_watch_);
  engine_.reset();
  uv_loop_close(&loop_);
}

void Daemon::add_frontend(std::unique_ptr<Frontend> frontend) {
  frontends_.push_back(std::move(frontend));
}

int Daemon::run() {
  ::signal(SIGPIPE, SIG_IGN);
  for (const std::string& note : setup_.notes)
    log_notice(note);
  log_info("loading " + config_.model + " as '" + setup_.served_model_name + "'");
  notifier_.notify("STATUS=loading " + setup_.served_model_name + "\nEXTEND_TIMEOUT_USEC=" +
                   std::to_string(std::chrono::microseconds(kLoadTimeoutExtension).count()));
  engine_ = std::make_unique<Engine>(setup_.engine);

  ShmServerOptions options;
  options.socket_path = config_.socket;
  options.allow_other_users = config_.allow_other_users;
  options.socket_group = config_.socket_group;
  options.max_connections = config_.ipc_max_connections;
  options.to_client_ring_bytes = config_.ipc_ring_bytes;
  options.max_unread_tokens = config_.ipc_max_unread_tokens;
  options.served_model_name = setup_.served_model_name;
  options.daemon_version = "0.1.0";
  options.default_sampling = setup_.default_sampling;
  options.text = text_;
  options.max_model_len = setup_.engine.scheduler.max_model_len;
  options.vocab_size = setup_.vocab_size;
  server_ = std::make_unique<ShmServer>(&loop_, *engine_, options);
  try {
    server_->start();
    for (auto& frontend : frontends_)
      frontend->start(&loop_, *engine_);
  } catch (const std::exception& error) {
    log_error(error.what());
    notifier_.notify(std::string("STATUS=failed: ") + error.what() + "\nERRNO=98");
    exit_code_ = 1;
    shut_down();
    uv_run(&loop_, UV_RUN_DEFAULT);
    return exit_code_;
  }

  for (auto [handle, signum] :
       {std::pair{&sigterm_, SIGTERM}, std::pair{&sigint_, SIGINT}, std::pair{&sighup_, SIGHUP}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(handle, &Daemon::on_signal, signum);
  }
  uv_timer_init(&loop_, &load_timer_);
  load_timer_.data = this;
  const auto interval_ms = config_.load_report_ms;
  uv_timer_start(
      &load_timer_, [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->report_loading(); },
      static_cast<uint64_t>(interval_ms), static_cast<uint64_t>(interval_ms));
  uv_timer_init(&loop_, &watchdog_timer_);
  watchdog_timer_.data = this;
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;

  // The engine announces its state changes; the watcher (engine thread) pokes the loop, so
  // the loop never polls the engine and no thread waits for it.
  uv_async_init(&loop_, &state_async_,
                [](uv_async_t* a) { static_cast<Daemon*>(a->data)->on_engine_state(); });
  state_async_.data = this;
  state_notifier_ = std::make_shared<LoopNotifier>(&state_async_);
  state_watch_ =
      engine_->watch_state([this](const EngineTransition& change) { on_transition(change); });
  state_notifier_->notify();  // the load may have ended before the watcher was in place

  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

void Daemon::report_loading() {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const int percent = static_cast<int>(engine_->status().load_progress * 100.0);
  notifier_.notify("STATUS=loading weights " + std::to_string(percent) + "% (" +
                   setup_.served_model_name + ", " + seconds_text(elapsed) +
                   ")\nEXTEND_TIMEOUT_USEC=" +
                   std::to_string(std::chrono::microseconds(kLoadTimeoutExtension).count()));
}

void Daemon::on_transition(const EngineTransition& t) {
  using enum EngineState;
  const std::string level = std::to_string(t.sleep_level);
  if (t.to == kSleeping) {
    log_info("asleep at level " + level + ": " + t.cause + " after " +
             seconds_text(t.seconds_in_from) + " idle (unloading took " +
             seconds_text(t.seconds_taken) + ")");
  } else if (t.to == kWaking) {
    log_info("waking: " + t.cause + " after " + seconds_text(t.seconds_in_from) + " asleep");
  } else if (t.from == kWaking && t.to == kReady) {
    log_info("awake: " + t.cause + " (loading took " + seconds_text(t.seconds_taken) + ")");
  } else if (t.from == kWaking && t.to == kFailed) {
    log_error("waking failed after " + seconds_text(t.seconds_taken) + ": " + t.error);
  } else if (t.from == kSleeping && t.to == kStopped) {
    log_info("stopped while asleep: " + t.cause + " after " + seconds_text(t.seconds_in_from) +
             " asleep");
  }
  state_notifier_->notify();
}

void Daemon::on_engine_state() {
  if (ready_reported_ || shut_down_) return;
  if (engine_->status().state == EngineState::kLoading) return;
  ready_reported_ = true;
  uv_timer_stop(&load_timer_);
  const EngineStatus status = engine_->status();
  if (status.state != EngineState::kReady) {
    log_error("the model did not load: " + status.error);
    notifier_.notify("STATUS=failed: " + status.error);
    exit_code_ = 1;
    shut_down();
    return;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  // One line says what runs and why: each setting with where it came from.
  std::string settings;
  for (const SettingOrigin& s : status.settings) {
    if (s.value.empty()) continue;
    settings += (settings.empty() ? "" : ", ") + s.name + " " + s.value + " (" + s.source + ")";
  }
  log_info("ready: serving '" + setup_.served_model_name + "' on " + config_.socket +
           " (loaded in " + seconds_text(elapsed) + "); " + settings);
  notifier_.notify("READY=1\nSTATUS=serving " + setup_.served_model_name + " on " + config_.socket);
  if (const auto period = notifier_.watchdog_period()) {
    // Ping at half the period, as sd_watchdog_enabled(3) advises.
    const auto half = std::max<int64_t>(1, period->count() / 2000);
    uv_timer_start(
        &watchdog_timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<Daemon*>(t->data);
          // A failed engine is not healthy: stop pinging and let systemd restart us.
          if (self->engine_->status().state != EngineState::kFailed)
            self->notifier_.notify("WATCHDOG=1");
        },
        static_cast<uint64_t>(half), static_cast<uint64_t>(half));
  }
}

void Daemon::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Daemon*>(handle->data);
  if (signum == SIGHUP) {
    log_notice("SIGHUP: reloading the configuration is not supported; restart mmd instead");
    return;
  }
  if (self->draining_) {
    log_notice(std::string(strsignal(signum)) + " again: stopping now");
    self->engine_->stop("the daemon was asked to stop immediately");
    return;
  }
  self->stop_signal_ = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  self->begin_drain(strsignal(signum));
}

void Daemon::begin_drain(const std::string& why) {
  draining_ = true;
  const int in_flight = server_->num_unfinished_requests();
  log_notice(why + ": draining " + std::to_string(in_flight) + " requests (timeout " +
             seconds_text(config_.drain_timeout_seconds) + ")");
  notifier_.notify("STOPPING=1\nSTATUS=draining " + std::to_string(in_flight) + " requests");
  uv_timer_stop(&load_timer_);
  uv_timer_stop(&watchdog_timer_);
  const auto timeout_ms = static_cast<uint64_t>(config_.drain_timeout_seconds * 1000.0);
  uv_timer_start(
      &drain_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Daemon*>(t->data);
        const std::string reason = "the daemon is shutting down: the drain timeout of " +
                                   seconds_text(self->config_.drain_timeout_seconds) + " passed";
        log_notice(std::to_string(self->server_->num_unfinished_requests()) +
                   " requests still running; " + reason);
        self->engine_->stop(reason);
        // The cancellations reach the clients through the server; close after a grace.
        uv_timer_start(
            t, [](uv_timer_t* t2) { static_cast<Daemon*>(t2->data)->shut_down(); },
            static_cast<uint64_t>(std::chrono::milliseconds(kFinalFlushGrace).count()), 0);
      },
      timeout_ms, 0);
  num_draining_ = 1 + static_cast<int>(frontends_.size());
  const auto drained = [this] {
    if (--num_draining_ == 0) shut_down();
  };
  server_->begin_drain(drained);
  for (auto& frontend : frontends_)
    frontend->begin_drain(drained);
}

void Daemon::shut_down() {
  if (shut_down_) return;
  shut_down_ = true;
  log_info("stopping");
  // The signal is named, so a sleeping engine's stop is logged with its cause.
  if (engine_)
    engine_->stop(stop_signal_.empty() ? "the daemon is shutting down"
                                       : "the daemon is shutting down (" + stop_signal_ + ")");
  if (server_) server_->close();
  for (auto& frontend : frontends_)
    frontend->close();
  if (state_notifier_) state_notifier_->detach();
  // Close every handle this class owns; uv_run returns once they are all released.
  uv_walk(
      &loop_,
      [](uv_handle_t* handle, void*) {
        if (!uv_is_closing(handle)) uv_close(handle, nullptr);
      },
      nullptr);
}

}  // namespace mm
