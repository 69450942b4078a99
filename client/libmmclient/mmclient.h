// libmmclient: the C++ client of mmd over shared memory. Connect, submit requests (chat
// messages, a prompt or token ids), read each request's stream of replies (Accepted, Delta,
// then Finished or Error), cancel, ask for status, put the daemon to sleep or wake it.
//
//   auto client = mm::client::Client::connect({});
//   mm::ipc::Submit submit;
//   submit.prompt_token_ids = {1, 2, 3};
//   uint64_t id = client->submit(submit);
//   auto finished = client->stream(id, [](const mm::ipc::Delta& d) { ... });
//
// A Client is used by one thread at a time (it owns its connection's rings); open one Client
// per thread for concurrency. Nothing spins: waits block in poll(2) on the connection socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipc/protocol.h"

namespace mm::client {

// $MMD_SOCKET, else /run/mmd/mmd.sock.
std::string default_socket_path();

struct ConnectOptions {
  std::string socket_path = default_socket_path();
  std::chrono::milliseconds timeout{10000};
  std::string client_name = "libmmclient";
};

// The connection failed or broke; `code` is set when the daemon said why.
class ClientError : public std::runtime_error {
 public:
  explicit ClientError(const std::string& message,
                       std::optional<ipc::ErrorCode> code = std::nullopt)
      : std::runtime_error(message), code_(code) {}
  std::optional<ipc::ErrorCode> code() const { return code_; }

 private:
  std::optional<ipc::ErrorCode> code_;
};

// One reply about a request. Finished or Error is the last one.
struct Event {
  enum class Kind : uint8_t { kAccepted, kDelta, kFinished, kError };
  Kind kind = Kind::kDelta;
  ipc::Accepted accepted;
  ipc::Delta delta;
  ipc::Finished finished;
  ipc::Error error;
  bool is_last() const { return kind == Kind::kFinished || kind == Kind::kError; }
};

// How a streamed request ended.
struct Outcome {
  bool ok = false;            // Finished (any reason); false: Error
  ipc::Finished finished;     // when ok
  ipc::Error error;           // when !ok
  int64_t engine_request_id = 0;
  // Accepted's prompt token ids (the rendered chat's) when the Submit set
  // return_prompt_token_ids.
  std::vector<int32_t> prompt_token_ids;
};

class Client {
 public:
  // Throws ClientError naming the socket and what failed (no daemon, refused, no reply).
  static std::unique_ptr<Client> connect(const ConnectOptions& options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ipc::HelloReply& hello() const { return hello_; }

  // Sends the request and returns its id (waits for ring space up to the connect timeout).
  uint64_t submit(const ipc::Submit& submit);
  // The next reply about `request`, or nullopt when none came within `timeout`. Throws
  // ClientError when the connection is lost.
  std::optional<Event> next(uint64_t request, std::chrono::milliseconds timeout);
  // Reads `request` to its end, calling on_delta for each Delta.
  Outcome stream(uint64_t request, const std::function<void(const ipc::Delta&)>& on_delta,
                 std::chrono::milliseconds timeout = std::chrono::hours(24));
  void cancel(uint64_t request);

  ipc::StatusReply status(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void sleep(int level, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void wake(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Empties the daemon's KV tiers (host memory and disk); returns once it is queued.
  void clear_cache(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  int socket_fd() const;  // readable when the daemon wrote something (for poll loops)

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  ipc::ServerMessage command(ipc::ClientMessage message, std::chrono::milliseconds timeout);

  std::unique_ptr<Impl> impl_;
  ipc::HelloReply hello_;
};

}  // namespace mm::client
