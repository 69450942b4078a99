#include "client/libmmclient/mmclient.h"

#include <unistd.h>

#include <cstdlib>

#include "ipc/codec.h"
#include "ipc/frame_endpoint.h"
#include "ipc/handshake.h"
#include "ipc/unix_socket.h"

namespace mm::client {

using Clock = std::chrono::steady_clock;

std::string default_socket_path() {
  const char* env = std::getenv("MMD_SOCKET");
  return env != nullptr && *env != '\0' ? env : "/run/mmd/mmd.sock";
}

struct Client::Impl {
  int socket_fd = -1;
  ipc::ShmSegment segment;
  ipc::FrameEndpoint endpoint;
  std::chrono::milliseconds timeout{10000};
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, std::deque<Event>> events;  // by request id
  std::unordered_map<uint64_t, ipc::ServerMessage> replies;  // by command id
  std::string scratch;
  std::string broken;  // why the connection is unusable

  ~Impl() {
    if (socket_fd >= 0) ::close(socket_fd);
  }

  [[noreturn]] void fail(const std::string& why, std::optional<ipc::ErrorCode> code = {}) {
    if (broken.empty()) broken = why;
    throw ClientError(why, code);
  }

  void send(const ipc::ClientFrame& frame) {
    if (!broken.empty()) throw ClientError("connection to mmd is broken: " + broken);
    const std::string bytes = ipc::encode(frame);
    if (bytes.size() > endpoint.max_frame_bytes()) {
      throw ClientError(std::string(ipc::message_name(frame.message)) + " of " +
                        std::to_string(bytes.size()) + " bytes is larger than the ring's " +
                        std::to_string(endpoint.max_frame_bytes()) + " bytes");
    }
    if (!endpoint.send(bytes, timeout)) {
      fail(endpoint.peer_closed() ? "the daemon closed the connection"
                                  : "the daemon did not read its ring within " +
                                        std::to_string(timeout.count()) + " ms");
    }
  }

  // Reads one frame (waiting up to `timeout`) and files it. False on timeout.
  bool pump(std::chrono::milliseconds wait) {
    if (!broken.empty()) throw ClientError("connection to mmd is broken: " + broken);
    const auto result = endpoint.receive(scratch, wait);
    if (result == ipc::ShmRing::ReadResult::kCorrupt) fail("the daemon's ring is corrupt");
    if (result == ipc::ShmRing::ReadResult::kEmpty) {
      if (endpoint.peer_closed()) fail("the daemon closed the connection");
      return false;
    }
    ipc::ServerFrame frame;
    try {
      frame = ipc::decode_server_frame(scratch);
    } catch (const ipc::ProtocolError& error) {
      fail(std::string("bad frame from the daemon: ") + error.what());
    }
    if (frame.id == 0) {
      if (auto* error = std::get_if<ipc::Error>(&frame.message)) {
        fail("the daemon closed the connection: " + error->message, error->code);
      }
      return true;
    }
    auto it = events.find(frame.id);
    if (it == events.end()) {  // a command's reply
      replies[frame.id] = std::move(frame.message);
      return true;
    }
    Event event;
    std::visit(
        [&](auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, ipc::Accepted>) {
            event.kind = Event::Kind::kAccepted;
            event.accepted = std::move(m);
          } else if constexpr (std::is_same_v<T, ipc::Delta>) {
            event.kind = Event::Kind::kDelta;
            event.delta = std::move(m);
          } else if constexpr (std::is_same_v<T, ipc::Finished>) {
            event.kind = Event::Kind::kFinished;
            event.finished = std::move(m);
          } else if constexpr (std::is_same_v<T, ipc::Error>) {
            event.kind = Event::Kind::kError;
            event.error = std::move(m);
          } else {
            event.kind = Event::Kind::kError;
            event.error = {ipc::ErrorCode::kInternal,
                           std::string("unexpected ") + ipc::message_name(frame.message) +
                               " for a request"};
          }
        },
        frame.message);
    it->second.push_back(std::move(event));
    return true;
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::unique_ptr<Client> Client::connect(const ConnectOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = options.timeout;
  try {
    impl->socket_fd = ipc::connect_unix(options.socket_path);
    impl->segment = ipc::receive_setup(impl->socket_fd, options.timeout);
  } catch (const std::exception& error) {
    throw ClientError(std::string("cannot connect to mmd: ") + error.what());
  }
  impl->endpoint = ipc::FrameEndpoint(impl->socket_fd, impl->segment.to_daemon(),
                                      impl->segment.to_client());
  std::unique_ptr<Client> client(new Client(std::move(impl)));
  const auto reply = client->command(ipc::Hello{ipc::kProtocolVersion, options.client_name},
                                     options.timeout);
  const auto* hello = std::get_if<ipc::HelloReply>(&reply);
  if (hello == nullptr) throw ClientError("the daemon did not answer Hello with a HelloReply");
  client->hello_ = *hello;
  return client;
}

ipc::ServerMessage Client::command(ipc::ClientMessage message, std::chrono::milliseconds timeout) {
  const uint64_t id = impl_->next_id++;
  const char* name = ipc::message_name(message);
  impl_->send(ipc::ClientFrame{id, std::move(message)});
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto it = impl_->replies.find(id);
    if (it != impl_->replies.end()) {
      ipc::ServerMessage reply = std::move(it->second);
      impl_->replies.erase(it);
      if (auto* error = std::get_if<ipc::Error>(&reply))
        throw ClientError(std::string(name) + ": " + error->message, error->code);
      return reply;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !impl_->pump(left)) {
      if (Clock::now() >= deadline) {
        throw ClientError(std::string("no reply to ") + name + " within " +
                          std::to_string(timeout.count()) + " ms");
      }
    }
  }
}

uint64_t Client::submit(const ipc::Submit& submit) {
  const uint64_t id = impl_->next_id++;
  impl_->events[id];  // replies with this id are the request's events from now on
  impl_->send(ipc::ClientFrame{id, submit});
  return id;
}

std::optional<Event> Client::next(uint64_t request, std::chrono::milliseconds timeout) {
  auto it = impl_->events.find(request);
  if (it == impl_->events.end())
    throw ClientError("request " + std::to_string(request) + " was not submitted on this client");
  const auto deadline = Clock::now() + timeout;
  while (it->second.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    impl_->pump(left);
    it = impl_->events.find(request);
  }
  Event event = std::move(it->second.front());
  it->second.pop_front();
  if (event.is_last()) impl_->events.erase(it);
  return event;
}

Outcome Client::stream(uint64_t request, const std::function<void(const ipc::Delta&)>& on_delta,
                       std::chrono::milliseconds timeout) {
  Outcome outcome;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto event = next(request, std::max(left, std::chrono::milliseconds(0)));
    if (!event) {
      throw ClientError("request " + std::to_string(request) + " did not finish within " +
                        std::to_string(timeout.count()) + " ms");
    }
    switch (event->kind) {
      case Event::Kind::kAccepted:
        outcome.engine_request_id = event->accepted.engine_request_id;
        outcome.prompt_token_ids = std::move(event->accepted.prompt_token_ids);
        break;
      case Event::Kind::kDelta:
        if (on_delta) on_delta(event->delta);
        break;
      case Event::Kind::kFinished:
        outcome.ok = true;
        outcome.finished = std::move(event->finished);
        return outcome;
      case Event::Kind::kError:
        outcome.error = std::move(event->error);
        return outcome;
    }
  }
}

void Client::cancel(uint64_t request) { impl_->send(ipc::ClientFrame{request, ipc::Cancel{}}); }

ipc::StatusReply Client::status(std::chrono::milliseconds timeout) {
  auto reply = command(ipc::StatusQuery{}, timeout);
  if (auto* status = std::get_if<ipc::StatusReply>(&reply)) return std::move(*status);
  throw ClientError("the daemon did not answer Status with a StatusReply");
}

void Client::sleep(int level, std::chrono::milliseconds timeout) {
  command(ipc::SleepCommand{level}, timeout);
}

void Client::wake(std::chrono::milliseconds timeout) { command(ipc::WakeCommand{}, timeout); }

void Client::clear_cache(std::chrono::milliseconds timeout) {
  command(ipc::ClearCacheCommand{}, timeout);
}

int Client::socket_fd() const { return impl_->socket_fd; }

}  // namespace mm::client
