// A frontend besides the shared-memory one (the D-Bus service, the HTTP API), as the
// daemon drives it: started on the daemon's libuv loop once the engine exists (the model may
// still be loading), told when a drain begins, closed at shutdown. Frontends call the Engine
// from the loop thread or their own; their sinks run on the engine thread and must not block.
// Owned by the Daemon; every method is called on the loop thread.
#pragma once

#include <uv.h>

#include <functional>

namespace mm {

class Engine;

class Frontend {
 public:
  virtual ~Frontend() = default;
  // Throws std::runtime_error naming what could not be set up (the daemon then exits 1).
  virtual void start(uv_loop_t* loop, Engine& engine) = 0;
  // Refuse new requests from now on; call `on_drained` (on the loop thread) once every request
  // this frontend accepted has finished and its last reply is out.
  virtual void begin_drain(std::function<void()> on_drained) = 0;
  // Release every loop handle and connection; the loop must be able to exit afterwards.
  virtual void close() = 0;
};

}  // namespace mm
