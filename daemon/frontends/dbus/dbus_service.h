// DbusService: the org.mmd.Engine1 D-Bus API over an Engine. It owns one thread (the D-Bus
// service thread) that owns the bus connection and every sdbus object; method calls, signal
// emission and the table of D-Bus requests all live on that thread. Engine sinks and the
// engine's state watcher only queue events under a mutex and write an eventfd, so they never
// block the engine thread; the thread blocks in poll(2) until the bus or that eventfd has
// something (no timer: an idle service does not wake).
// The constructor and the destructor run on the thread that owns the DbusService (mmd's
// main); begin_drain() and unique_name() are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/engine/sampling_params.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/frontends/text_adapter.h"

namespace mm {

class Engine;

struct DbusServiceOptions {
  // "system" (the default: production), "session", or a D-Bus address such as
  // "unix:path=/run/user/1000/bus" (tests pass the address of their private dbus-daemon).
  std::string bus = "system";
  std::string bus_name = "org.mmd.Engine1";
  std::string model;  // the Model property (the checkpoint folder; made absolute)
  // The model's text layer, the one every frontend uses (ModelText): text prompts, the chat
  // prompt (render_chat) and the output parsers (open_stream). Null: token ids only; text
  // prompts and chats are org.mmd.Error.NotSupported and Delta text is empty.
  std::shared_ptr<TextAdapter> text;
  // What a request's options apply over: the model's generation defaults
  // (default_sampling_params() of the merged generation config).
  SamplingParams defaults;
  // What a request is fitted to once its prompt is known (the same check as HTTP and shm:
  // truncate_prompt_tokens, bad_words, allowed_token_ids, max_tokens within the context).
  ModelLimits limits;
};

class DbusService {
 public:
  // Connects to the bus, registers /org/mmd/Engine1, requests the well-known name and
  // starts the service thread. Throws std::runtime_error naming the bus and the reason
  // (no bus, name already owned, policy refusal). `engine` must outlive the service.
  DbusService(Engine& engine, DbusServiceOptions options);
  // Stops the thread: cancels the requests started over D-Bus (their callers get Finished
  // "cancelled", a pending Complete gets org.mmd.Error.Unavailable), releases the name.
  ~DbusService();
  DbusService(const DbusService&) = delete;
  DbusService& operator=(const DbusService&) = delete;

  // New requests are refused with org.mmd.Error.Unavailable from now on; running ones go on
  // (the daemon's drain). `on_drained` runs once, on the service thread, when the last request
  // started over D-Bus has finished and its Finished signal is sent (at once when none runs);
  // it must not block. Thread-safe; later calls keep the first callback.
  void begin_drain(std::function<void()> on_drained = {});

  // The connection's unique name (":1.42"), for logs. Thread-safe (set before the thread).
  const std::string& unique_name() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mm
