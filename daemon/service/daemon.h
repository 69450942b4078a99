// The mmd process: the libuv event loop (client socket, signals, load / watchdog / drain
// timers) on the main thread, the engine's step loop on its own thread. Start-up reports to
// systemd (STATUS while loading, EXTEND_TIMEOUT_USEC, READY=1); SIGTERM or SIGINT drains:
// STOPPING=1, no new requests, in-flight ones finish, and those still running after
// --drain-timeout end as cancelled with that reason.
// Owned by the main thread; run() returns the process's exit code.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon/engine/engine.h"
#include "daemon/frontends/connection_mailbox.h"
#include "daemon/frontends/shm_server.h"
#include "daemon/service/config.h"
#include "daemon/service/engine_setup.h"
#include "daemon/service/frontend.h"
#include "daemon/service/sd_notify.h"

namespace mm {

class Daemon {
 public:
  Daemon(DaemonConfig config, EngineSetup setup);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Adds a frontend (e.g. the D-Bus service) before run(); run() starts it after the
  // shared-memory server, includes it in the drain and closes it at shutdown.
  void add_frontend(std::unique_ptr<Frontend> frontend);
  // Gives the shared-memory frontend a tokenizer / chat template / parsers (before run());
  // without one it serves token ids only.
  void set_text_adapter(std::shared_ptr<TextAdapter> text) { text_ = std::move(text); }
  int run();

 private:
  static void on_signal(uv_signal_t* handle, int signum);
  void on_engine_state();  // loop thread, after the engine changed state (loaded, failed, ...)
  // Engine thread: logs sleep and wake with their cause and duration, wakes the loop.
  void on_transition(const EngineTransition& transition);
  void report_loading();
  void begin_drain(const std::string& why);
  void shut_down();

  DaemonConfig config_;
  EngineSetup setup_;
  SdNotifier notifier_;
  uv_loop_t loop_{};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ShmServer> server_;
  std::vector<std::unique_ptr<Frontend>> frontends_;
  std::shared_ptr<TextAdapter> text_;
  int num_draining_ = 0;  // frontends (the shm server included) not yet drained
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sighup_{};
  uv_timer_t load_timer_{};
  uv_timer_t watchdog_timer_{};
  uv_timer_t drain_timer_{};
  // The engine's state changes reach the loop through this handle (no thread, no polling).
  uv_async_t state_async_{};
  std::shared_ptr<LoopNotifier> state_notifier_;
  int state_watch_ = 0;  // the engine's watcher id; 0: none
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool ready_reported_ = false;
  bool draining_ = false;
  std::string stop_signal_;  // "SIGTERM" or "SIGINT" once one started the drain
  bool shut_down_ = false;
  int exit_code_ = 0;
};

}  // namespace mm
