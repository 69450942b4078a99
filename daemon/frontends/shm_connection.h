// One client connection of the shared-memory frontend: reads the client's frames from its
// ring, turns Submits into engine requests, and writes Accepted / Delta / Finished / Error and
// command replies to the client's ring. Back-pressure is per request: output the client has
// not read waits here, and a request with more than `max_unread_tokens` waiting is cancelled
// with a kSlowReader error naming it, so a slow reader never stalls the engine. A frame that
// does not decode fails this connection only; a closed socket cancels its requests (their KV
// blocks return to the pool).
// Owned by the server's loop thread (libuv); not thread-safe. Deletes itself after close().
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/engine/request.h"
#include "daemon/frontends/connection_mailbox.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/frontends/text_adapter.h"
#include "ipc/frame_endpoint.h"
#include "ipc/protocol.h"
#include "ipc/shm_segment.h"
#include "ipc/unix_socket.h"

namespace mm {

class ShmServer;

class ShmConnection {
 public:
  ShmConnection(ShmServer& server, uint64_t id, int socket_fd, ipc::PeerCredentials peer,
                ipc::ShmSegment segment);
  ShmConnection(const ShmConnection&) = delete;
  ShmConnection& operator=(const ShmConnection&) = delete;

  void start(uv_loop_t* loop);
  // Takes the engine's events for this connection, applies back-pressure, writes what fits.
  void deliver_engine_events();
  // Cancels its unfinished requests, closes the socket; the object deletes itself once libuv
  // has released the handle. Idempotent.
  void close(const std::string& why);

  uint64_t id() const { return id_; }
  int num_unfinished_requests() const;  // not yet finished by the engine
  bool has_unsent_output() const;

 private:
  struct Request {
    RequestId engine_id = 0;
    ipc::Delta pending;                      // produced, not yet written to the ring
    std::optional<ipc::ServerMessage> last;  // Finished or Error, after `pending`
    bool engine_done = false;                // the engine sent on_finish
    bool failed = false;                     // an Error was decided here (slow reader)
    bool stopped = false;              // a stop string matched: reported as stop, later ids dropped
    int num_tokens = 0;                // ids passed to the client (up to the stop string)
    std::unique_ptr<TextStream> text;  // null: token ids only
    bool preparing = false;            // on the worker pool; not in the engine yet (engine_id 0)
    bool cancelled = false;            // cancelled while preparing: it never reaches the engine
  };

  // A Submit being prepared on the worker pool; owned by libuv's request until
  // submit_prepared.
  struct SubmitWork {
    uv_work_t req{};
    std::shared_ptr<ShmConnection*> connection;  // null inside once the connection closed
    uint64_t client_id = 0;
    std::shared_ptr<TextAdapter> text;
    SamplingParams default_sampling;
    ModelLimits limits;
    ipc::Submit submit;
    EngineRequest request;
    std::unique_ptr<TextStream> stream;
    ipc::Delta primed;
    std::optional<std::string> error;
  };
  static void prepare_submit(uv_work_t* req);
  static void submit_prepared(uv_work_t* req, int status);
  void start_prepared(SubmitWork& work);

  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_more(uv_idle_t* handle);
  void service();
  void handle_frame(ipc::ClientFrame frame);
  void handle_submit(uint64_t id, ipc::Submit& submit);
  void reply(uint64_t id, ipc::ServerMessage message);
  void fail_connection(ipc::ErrorCode code, const std::string& message);
  // Ends one request with an Error saying `why` (cancelling it in the engine); the engine's
  // own finish is then dropped, so the client sees exactly one final reply.
  void fail_request(uint64_t client_id, Request& request, const std::string& why);
  void queue_control(std::string bytes);
  std::string too_large(size_t bytes) const;

  // Replies to commands (Status, Sleep, ...) a client may leave unread before it is dropped,
  // and requests it may have open at once: each per-connection queue is bounded.
  static constexpr size_t kMaxQueuedReplies = 256;
  static constexpr size_t kMaxRequestsPerConnection = 1024;
  void flush();
  bool send_frame(const std::string& bytes);

  ShmServer& server_;
  uint64_t id_;
  int socket_fd_;
  ipc::PeerCredentials peer_;
  ipc::ShmSegment segment_;
  ipc::FrameEndpoint endpoint_;
  std::shared_ptr<ConnectionMailbox> mailbox_;
  std::shared_ptr<ShmConnection*> self_ref_;  // what preparations on the worker pool hold
  uv_poll_t poll_{};
  uv_idle_t more_{};      // a turn of the loop later: the frames left after kFramesPerTurn
  int handles_open_ = 0;  // poll_ and more_, until both are closed
  static constexpr int kFramesPerTurn = 64;
  bool hello_done_ = false;
  bool closing_ = false;
  bool blocked_ = false;                  // the client's ring was full at the last write
  bool overflowed_ = false;               // kMaxQueuedReplies were unread when another command came
  std::deque<std::string> control_;       // encoded command replies, in order
  std::map<uint64_t, Request> requests_;  // by the client's frame id
  std::string scratch_;
  uint64_t num_frames_received_ = 0;
};

}  // namespace mm
