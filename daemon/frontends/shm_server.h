// The shared-memory frontend: listens on a Unix socket, checks each peer's credentials
// (SO_PEERCRED), gives it a private segment (mode 0600) and runs one ShmConnection per client
// on the daemon's libuv loop. The engine's sinks reach the loop through one uv_async handle.
// Owned by the daemon's loop thread; not thread-safe (the engine thread only touches the
// mailboxes and the notifier).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "daemon/frontends/connection_mailbox.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/frontends/text_adapter.h"
#include "ipc/protocol.h"
#include "ipc/unix_socket.h"

namespace mm {

class Engine;
class ShmConnection;

struct ShmServerOptions {
  std::string socket_path;
  // Who may connect: the daemon's own user, root, and members of `socket_group` (the socket
  // file is given to that group, mode 0660, and each peer's groups are checked as well);
  // `allow_other_users` opens it to every local user (mode 0666).
  mode_t socket_mode = 0660;
  std::string socket_group = "mmd";  // empty or missing on the system: owner and root only
  bool allow_other_users = false;
  int max_connections = 256;  // one more is refused with a reason; 0: no limit
  uint64_t to_daemon_ring_bytes = 2 * 1024 * 1024;  // a 200k-token prompt of 5-byte ids fits
  uint64_t to_client_ring_bytes = 1024 * 1024;
  int max_unread_tokens = 4096;  // per request, beyond what the ring holds
  std::string served_model_name;
  std::string daemon_version;
  SamplingParams default_sampling;    // the model's generation config, overrides applied
  std::shared_ptr<TextAdapter> text;  // null: token ids only
  // What a Submit is checked against (max_tokens and truncate_prompt_tokens against the
  // context, allowed_token_ids against the logits); 0: not checked.
  int max_model_len = 0;
  int vocab_size = 0;
};

class ShmServer {
 public:
  ShmServer(uv_loop_t* loop, Engine& engine, ShmServerOptions options);
  ~ShmServer();
  ShmServer(const ShmServer&) = delete;
  ShmServer& operator=(const ShmServer&) = delete;

  // Binds and listens; throws std::runtime_error naming the socket path.
  void start();
  // Stops taking new requests (they get kStopping); `on_drained` runs on the loop thread
  // once every accepted request has finished and its last reply is written (or its client
  // is gone).
  void begin_drain(std::function<void()> on_drained);
  // Closes the listening socket and every connection; releases the async handle.
  void close();

  bool draining() const { return draining_; }
  int num_connections() const { return static_cast<int>(connections_.size()); }
  int num_unfinished_requests() const;

  // For connections.
  Engine& engine() { return engine_; }
  const ShmServerOptions& options() const { return options_; }
  std::shared_ptr<LoopNotifier> notifier() const { return notifier_; }
  ipc::StatusReply status_reply() const;
  void connection_closed(uint64_t id);
  void check_drained();

 private:
  // Descriptors a new client must leave free (shm_server.cpp, accept_one).
  static constexpr int kSpareDescriptors = 16;
  static void on_listen(uv_poll_t* handle, int status, int events);
  static void on_async(uv_async_t* handle);
  void accept_all();
  void accept_one(int fd);
  // Empty when `peer` may connect, else why not.
  std::string access_refusal(int fd, const ipc::PeerCredentials& peer) const;
  // At most one line a second; the ones held back are counted in the next.
  void log_rate_limited(const std::string& line);

  uv_loop_t* loop_;
  Engine& engine_;
  ShmServerOptions options_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  int listen_fd_ = -1;
  ipc::SocketFileId socket_file_{};
  uv_poll_t listen_poll_{};
  // Out of descriptors: accepting pauses on this timer instead of spinning on a readable
  // listener it cannot take connections from.
  uv_timer_t accept_backoff_{};
  bool accept_paused_ = false;
  std::optional<gid_t> group_id_;  // socket_group, when it exists
  std::chrono::steady_clock::time_point last_log_{};
  uint64_t lines_held_back_ = 0;
  uv_async_t* async_ = nullptr;  // heap: freed in its close callback
  std::shared_ptr<LoopNotifier> notifier_;
  std::unordered_map<uint64_t, ShmConnection*> connections_;
  uint64_t next_connection_id_ = 1;
  bool listening_ = false;
  bool draining_ = false;
  bool closed_ = false;
  std::function<void()> on_drained_;
};

}  // namespace mm
