// The D-Bus service thread: a poll loop over the bus connection's fd and the sink mailbox's
// eventfd (sdbus-c++'s own event loop cannot wait on a second fd, hence this loop).
#include "daemon/frontends/dbus/dbus_service.h"

#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "daemon/engine/engine.h"
#include "daemon/frontends/dbus/dbus_convert.h"
#include "daemon/frontends/dbus/dbus_error.h"
#include "daemon/service/log.h"
#include "mmd_dbus/engine1_adaptor.h"

namespace mm {
namespace {

constexpr const char* kObjectPath = "/org/mmd/Engine1";
constexpr const char* kInterface = "org.mmd.Engine1";

// One thing a sink reports: a token, or the end of a request.
struct SinkEvent {
  RequestId id = 0;
  bool finished = false;
  int32_t token_id = 0;
  FinishReason reason = FinishReason::kStop;
  Usage usage;
  std::string message;
};

// Sinks (engine thread) post here; the service thread takes. Shared by the service and the
// sink, since the engine may hold the sink after the service is gone.
class Mailbox {
 public:
  Mailbox() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~Mailbox() { close(fd_); }
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  void post(SinkEvent event) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = events_.empty();
      events_.push_back(std::move(event));
    }
    if (was_empty) signal();  // one wakeup per batch: the eventfd is a doorbell
  }
  void signal() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = write(fd_, &one, sizeof one);
  }
  std::vector<SinkEvent> take() {
    uint64_t count = 0;
    [[maybe_unused]] ssize_t ignored = read(fd_, &count, sizeof count);
    std::lock_guard lock(mutex_);
    return std::exchange(events_, {});
  }
  int fd() const { return fd_; }

 private:
  const int fd_;
  std::mutex mutex_;
  std::vector<SinkEvent> events_;
};

// Never blocks: a lock held for one push_back and an eventfd write.
class MailboxSink final : public RequestSink {
 public:
  explicit MailboxSink(std::shared_ptr<Mailbox> mailbox) : mailbox_(std::move(mailbox)) {}
  void on_token(RequestId id, const SampleResult& token) override {
    mailbox_->post(SinkEvent{.id = id, .token_id = token.token_id});
  }
  void on_finish(RequestId id, FinishReason reason, const Usage& usage,
                 const std::string& message) override {
    mailbox_->post(SinkEvent{
        .id = id, .finished = true, .reason = reason, .usage = usage, .message = message});
  }

 private:
  std::shared_ptr<Mailbox> mailbox_;
};

using CompleteResult = sdbus::Result<std::vector<int32_t>, std::string, std::string>;
using ToolCallPiece = sdbus::Struct<int32_t, std::string, std::string, std::string>;

std::optional<uid_t> sender_uid(const sdbus::Message& message) {
  try {
    return message.getCredsUid();
  } catch (const sdbus::Error&) {
    return std::nullopt;
  }
}

uint32_t to_u32(int value) {
  return value < 0 ? 0u : static_cast<uint32_t>(value);
}

// Runs a method body; anything but an sdbus::Error becomes org.mmd.Error.Internal, since
// sdbus-c++ 1.2 only turns sdbus::Error into an error reply.
template <typename Body>
auto guarded(Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const sdbus::Error&) {
    throw;
  } catch (const std::exception& error) {
    throw dbus_error::make(dbus_error::kInternal, error.what());
  }
}

// The object /org/mmd/Engine1. Owned by the service thread (constructed and destroyed by
// the DbusService's owner while that thread is not running).
class Engine1Object final : public sdbus::AdaptorInterfaces<org::mmd::Engine1_adaptor> {
 public:
  Engine1Object(sdbus::IConnection& connection, Engine& engine, const DbusServiceOptions& options,
                std::shared_ptr<Mailbox> mailbox, const std::atomic<bool>& draining)
      : AdaptorInterfaces(connection, kObjectPath),
        engine_(engine),
        options_(options),
        model_(options.model.empty()
                   ? std::string()
                   : std::filesystem::absolute(options.model).lexically_normal().string()),
        draining_(draining),
        sink_(std::make_shared<MailboxSink>(std::move(mailbox))) {
    registerAdaptor();
  }
  ~Engine1Object() { unregisterAdaptor(); }

  // Turns the sinks' events into Delta and Finished signals, coalescing consecutive tokens
  // of one request into one Delta.
  void deliver(const std::vector<SinkEvent>& events) {
    std::vector<int32_t> run;
    RequestId run_id = 0;
    for (const SinkEvent& event : events) {
      if (event.id != run_id) {
        emit_delta(run_id, run);
        run_id = event.id;
      }
      if (!event.finished) {
        run.push_back(event.token_id);
        continue;
      }
      emit_delta(run_id, run);
      emit_finished(event);
    }
    emit_delta(run_id, run);
  }

  // A connection left the bus: its requests are orphans and are cancelled now.
  void on_peer_gone(const std::string& unique_name) {
    for (const auto& [id, request] : requests_) {
      if (request.owner == unique_name) engine_.cancel(id);
    }
  }

  size_t num_requests() const { return requests_.size(); }

  // Emits PropertiesChanged for State and ActiveRequests when they differ from what was
  // last announced.
  void refresh_properties() {
    std::vector<std::string> changed;
    std::string state = State();
    if (state != announced_state_) {
      announced_state_ = std::move(state);
      changed.emplace_back("State");
    }
    const uint32_t active = ActiveRequests();
    if (active != announced_active_) {
      announced_active_ = active;
      changed.emplace_back("ActiveRequests");
    }
    if (!changed.empty()) getObject().emitPropertiesChangedSignal(kInterface, changed);
  }

  // The service is stopping (or lost its bus): every D-Bus request ends now. The engine
  // cancels come first, so a dead connection cannot leave a request running.
  void shutdown() {
    const std::string reason = "the D-Bus service is stopping";
    for (const auto& [id, request] : requests_)
      engine_.cancel(id);
    for (auto& [id, request] : requests_) {
      try {
        if (request.complete)
          request.complete->returnError(dbus_error::make(dbus_error::kUnavailable, reason));
        emitFinished(static_cast<uint64_t>(id), "cancelled", 0, to_u32(request.num_tokens), 0,
                     reason);
      } catch (const sdbus::Error&) {
        // No bus to tell: the callers are gone with it.
      }
    }
    requests_.clear();
  }

 private:
  struct DbusRequest {
    std::string owner;  // the caller's unique name
    std::optional<uid_t> owner_uid;
    bool chat = false;  // StartChat: ChatDelta signals instead of Delta
    std::unique_ptr<TextStream> text_stream;
    ipc::Delta pending;    // what the forced tool-call opening completed, sent with the first delta
    bool stopped = false;  // a stop string matched: later tokens are dropped, Finished says stop
    int num_tokens = 0;    // tokens signalled so far
    std::optional<CompleteResult> complete;  // set for Complete: replied on finish
    std::vector<int32_t> tokens;             // kept for Complete only
    std::string text;                        // kept for Complete only
  };

  // What a request started here needs besides its prompt.
  struct Start {
    const DbusRequestOptions* options = nullptr;
    const text::ChatRequest* chat = nullptr;        // StartChat
    const text::ChatPrompt* chat_prompt = nullptr;  // StartChat: the forced opening
    CompleteResult* complete = nullptr;             // Complete: moved from once checks passed
  };

  void check_available() const {
    if (draining_) throw dbus_error::make(dbus_error::kUnavailable, "the daemon is stopping");
    const EngineStatus status = engine_.status();
    if (status.state == EngineState::kFailed)
      throw dbus_error::make(dbus_error::kUnavailable, "the model failed to load: " + status.error);
    if (status.state == EngineState::kStopped)
      throw dbus_error::make(dbus_error::kUnavailable, "the engine is stopping");
  }

  // " from :1.5 (uid 1000)", for the logs: who asked.
  std::string from_caller() {
    const sdbus::Message* message = getObject().getCurrentlyProcessedMessage();
    if (message == nullptr) return "";
    std::string who = " from " + message->getSender();
    if (const std::optional<uid_t> uid = sender_uid(*message))
      who += " (uid " + std::to_string(*uid) + ")";
    return who;
  }

  TextAdapter& text_adapter(const char* what) const {
    if (!options_.text)
      throw dbus_error::make(dbus_error::kNotSupported,
                             std::string(what) +
                                 " needs the model's tokenizer, which this daemon has not loaded; "
                                 "send prompt token ids (StartCompletion)");
    return *options_.text;
  }

  // Submits on behalf of the message being processed; returns the request id.
  RequestId start(std::vector<int32_t> prompt, const Start& how) {
    check_available();
    const DbusRequestOptions& options = *how.options;
    EngineRequest request = request_from_dbus(std::move(prompt), options, options_.defaults);
    if (!options.sampling.stop.empty()) text_adapter("a stop string");
    if (auto problem =
            fit_request_to_model(options.sampling, options_.limits, options_.text.get(),
                                 how.chat != nullptr ? "messages_json" : "prompt", request))
      throw dbus_error::make(dbus_error::kInvalidArgument, problem->message);
    const sdbus::Message* message = getObject().getCurrentlyProcessedMessage();
    DbusRequest entry;
    if (message != nullptr) {
      entry.owner = message->getSender();
      entry.owner_uid = sender_uid(*message);
    }
    entry.chat = how.chat != nullptr;
    if (options_.text) {
      // The output path of every frontend: detokenizer, and for chats the reasoning and
      // tool-call parsers, primed with the opening a forced tool call wrote into the prompt.
      const TextStreamOptions stream_options{
          .chat = how.chat,
          .stop = options.sampling.stop,
          .include_stop_str_in_output = options.include_stop_str_in_output,
          .skip_special_tokens = options.skip_special_tokens};
      with_invalid_argument([&] {
        entry.text_stream =
            how.chat_prompt != nullptr
                ? open_chat_stream(*options_.text, *how.chat_prompt, stream_options, entry.pending)
                : options_.text->open_stream(stream_options);
        if (how.chat != nullptr) request.constraint = options_.text->make_constraint(*how.chat);
      });
    }
    if (how.complete != nullptr) entry.complete = std::move(*how.complete);
    const RequestId id = engine_.submit(std::move(request), sink_);
    requests_.emplace(id, std::move(entry));
    return id;
  }

  // The text layer throws std::invalid_argument (text::ChatRequestError names the field) for
  // input it cannot use: that is the caller's error.
  template <typename Body>
  static auto with_invalid_argument(Body&& body) -> decltype(body()) {
    try {
      return body();
    } catch (const std::invalid_argument& error) {
      throw dbus_error::make(dbus_error::kInvalidArgument, error.what());
    }
  }

  // A chat's prompt, by the one path (TextAdapter::render_chat).
  text::ChatPrompt chat_prompt(const char* what, const std::string& messages_json,
                               const DbusRequestOptions& options, text::ChatRequest& chat) {
    TextAdapter& text = text_adapter(what);
    chat = chat_request_from_dbus(messages_json, options);
    return with_invalid_argument([&] { return text.render_chat(chat); });
  }

  void emit_delta(RequestId id, std::vector<int32_t>& tokens) {
    if (tokens.empty()) return;
    auto it = requests_.find(id);
    if (it == requests_.end()) {
      emitDelta(static_cast<uint64_t>(id), tokens, "");
      tokens.clear();
      return;
    }
    DbusRequest& request = it->second;
    ipc::Delta delta = std::exchange(request.pending, {});
    for (int32_t token : tokens) {
      if (request.stopped) break;  // steps scheduled before the cancel took effect
      delta.token_ids.push_back(token);
      ++request.num_tokens;
      if (!request.text_stream) continue;
      // One token at a time, so the ids signalled end where a stop string matched.
      request.text_stream->push(std::span(&token, 1), delta);
      if (request.text_stream->stop_matched()) {
        request.stopped = true;
        engine_.cancel(id);
      }
    }
    tokens.clear();
    emit_output(id, request, delta);
  }

  // One Delta (completions) or ChatDelta (chats) with `delta`, unless it holds nothing.
  void emit_output(RequestId id, DbusRequest& request, const ipc::Delta& delta) {
    if (request.complete) {
      request.tokens.insert(request.tokens.end(), delta.token_ids.begin(), delta.token_ids.end());
      request.text += delta.text;
    }
    if (!request.chat) {
      if (delta.token_ids.empty() && delta.text.empty()) return;
      emitDelta(static_cast<uint64_t>(id), delta.token_ids, delta.text);
      return;
    }
    if (delta.token_ids.empty() && delta.text.empty() && delta.reasoning.empty() &&
        delta.tool_calls.empty())
      return;
    std::vector<ToolCallPiece> calls;
    calls.reserve(delta.tool_calls.size());
    for (const ipc::ToolCallDelta& call : delta.tool_calls)
      calls.emplace_back(int32_t{call.index}, call.id, call.name, call.arguments);
    emitChatDelta(static_cast<uint64_t>(id), delta.token_ids, delta.text, delta.reasoning, calls);
  }

  void emit_finished(const SinkEvent& event) {
    auto it = requests_.find(event.id);
    bool stopped = false;
    int num_tokens = event.usage.completion_tokens;
    if (it != requests_.end()) {
      DbusRequest& request = it->second;
      stopped = request.stopped;
      ipc::Delta tail = std::exchange(request.pending, {});
      if (request.text_stream && !stopped) request.text_stream->finish(tail);
      emit_output(event.id, request, tail);
      // After a stop string the caller saw only the tokens up to it, whatever the engine did
      // with the steps it had already scheduled (ran to length, or took the cancel).
      if (stopped) num_tokens = request.num_tokens;
    }
    const std::string reason = stopped ? "stop" : std::string(finish_reason_name(event.reason));
    const std::string message = stopped ? std::string() : event.message;
    emitFinished(static_cast<uint64_t>(event.id), reason, to_u32(event.usage.prompt_tokens),
                 to_u32(num_tokens), to_u32(event.usage.cached_prompt_tokens), message);
    if (it == requests_.end()) return;
    if (it->second.complete) {
      if (!stopped && event.reason == FinishReason::kError)
        it->second.complete->returnError(dbus_error::make(dbus_error::kRequestFailed, message));
      else
        it->second.complete->returnResults(it->second.tokens, it->second.text, reason);
    }
    requests_.erase(it);
  }

  // org.mmd.Engine1 methods (service thread).
  uint64_t StartCompletion(const std::vector<int32_t>& prompt_token_ids,
                           const DbusOptions& options) override {
    return guarded([&] {
      const DbusRequestOptions parsed = options_from_dbus(options, false);
      return static_cast<uint64_t>(start(prompt_token_ids, Start{.options = &parsed}));
    });
  }
  uint64_t StartTextCompletion(const std::string& prompt, const DbusOptions& options) override {
    return guarded([&] {
      TextAdapter& text = text_adapter("StartTextCompletion");
      const DbusRequestOptions parsed = options_from_dbus(options, false);
      std::vector<int32_t> ids = with_invalid_argument([&] { return text.encode_prompt(prompt); });
      return static_cast<uint64_t>(start(std::move(ids), Start{.options = &parsed}));
    });
  }
  uint64_t StartChat(const std::string& messages_json, const DbusOptions& options) override {
    return guarded([&] {
      const DbusRequestOptions parsed = options_from_dbus(options, true);
      text::ChatRequest chat;
      const text::ChatPrompt prompt = chat_prompt("StartChat", messages_json, parsed, chat);
      return static_cast<uint64_t>(start(
          prompt.token_ids, Start{.options = &parsed, .chat = &chat, .chat_prompt = &prompt}));
    });
  }
  std::vector<int32_t> TokenizeChat(const std::string& messages_json,
                                    const DbusOptions& options) override {
    return guarded([&] {
      // The same options as StartChat, checked the same way; only the prompt comes back.
      const DbusRequestOptions parsed = options_from_dbus(options, true);
      text::ChatRequest chat;
      text::ChatPrompt prompt = chat_prompt("TokenizeChat", messages_json, parsed, chat);
      request_from_dbus(prompt.token_ids, parsed, options_.defaults);
      return std::move(prompt.token_ids);
    });
  }
  void Complete(CompleteResult&& result, std::vector<int32_t> prompt_token_ids,
                DbusOptions options) override {
    // The reply is sent when the request finishes; errors found now reply at once.
    try {
      guarded([&] {
        const DbusRequestOptions parsed = options_from_dbus(options, false);
        start(std::move(prompt_token_ids), Start{.options = &parsed, .complete = &result});
      });
    } catch (const sdbus::Error& error) {
      result.returnError(error);  // still ours: start() takes it only after its checks
    }
  }
  void Cancel(const uint64_t& request_id) override {
    guarded([&] {
      const auto id = static_cast<RequestId>(request_id);
      auto it = requests_.find(id);
      if (it == requests_.end())
        throw dbus_error::make(
            dbus_error::kUnknownRequest,
            "no running request " + std::to_string(request_id) + " was started over D-Bus");
      const sdbus::Message* message = getObject().getCurrentlyProcessedMessage();
      if (message != nullptr && message->getSender() != it->second.owner) {
        const std::optional<uid_t> uid = sender_uid(*message);
        if (!uid || (*uid != 0 && uid != it->second.owner_uid))
          throw dbus_error::make(
              dbus_error::kPermissionDenied,
              "request " + std::to_string(request_id) + " belongs to another user");
      }
      engine_.cancel(id);
    });
  }
  void Sleep(const int32_t& level) override {
    guarded([&] {
      if (level != 1 && level != 2)
        throw dbus_error::make(dbus_error::kInvalidArgument,
                               "sleep level " + std::to_string(level) + " is not 1 or 2");
      check_available();
      engine_.sleep(level, "a Sleep call over D-Bus" + from_caller());
    });
  }
  void Wake() override {
    guarded([&] {
      check_available();
      engine_.wake("a Wake call over D-Bus" + from_caller());
    });
  }
  void ClearCache() override {
    guarded([&] { engine_.clear_kv_cache("a ClearCache call over D-Bus" + from_caller()); });
  }
  DbusOptions GetStatus() override {
    return guarded([&] { return status_to_dbus(engine_.status(), ActiveRequests()); });
  }

  // Properties.
  std::string State() override { return engine_state_name(engine_.status().state); }
  std::string Model() override { return model_; }
  uint32_t ActiveRequests() override { return static_cast<uint32_t>(requests_.size()); }

  Engine& engine_;
  const DbusServiceOptions& options_;
  const std::string model_;  // absolute
  const std::atomic<bool>& draining_;
  std::shared_ptr<MailboxSink> sink_;
  std::unordered_map<RequestId, DbusRequest> requests_;
  std::string announced_state_;
  uint32_t announced_active_ = 0;
};

std::unique_ptr<sdbus::IConnection> connect(const std::string& bus) {
  if (bus == "system") return sdbus::createSystemBusConnection();
  if (bus == "session") return sdbus::createSessionBusConnection();
  return sdbus::createSessionBusConnectionWithAddress(bus);
}

}  // namespace

class DbusService::Impl {
 public:
  Impl(Engine& engine, DbusServiceOptions options)
      : engine_(engine), options_(std::move(options)), mailbox_(std::make_shared<Mailbox>()) {
    const std::string where = "D-Bus (" + options_.bus + ")";
    try {
      connection_ = connect(options_.bus);
      unique_name_ = connection_->getUniqueName();
      object_ =
          std::make_unique<Engine1Object>(*connection_, engine, options_, mailbox_, draining_);
      name_watch_ = connection_->addMatch(
          "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
          "member='NameOwnerChanged'",
          [this](sdbus::Message& message) {
            std::string name, old_owner, new_owner;
            message >> name >> old_owner >> new_owner;
            if (!name.empty() && name[0] == ':' && new_owner.empty()) object_->on_peer_gone(name);
          });
      connection_->requestName(options_.bus_name);
    } catch (const sdbus::Error& error) {
      throw std::runtime_error(where + ": " + error.getName() + ": " + error.getMessage());
    }
    object_->refresh_properties();
    // The State property follows the engine: its changes ring the mailbox's doorbell (the
    // thread's first pass compares again, for a change before this).
    state_watch_ =
        engine_.watch_state([mailbox = mailbox_](const EngineTransition&) { mailbox->signal(); });
    thread_ = std::thread([this] { run(); });
  }

  ~Impl() {
    engine_.unwatch_state(state_watch_);
    stopping_ = true;
    mailbox_->signal();
    thread_.join();
    name_watch_.reset();
    object_.reset();
    connection_.reset();
  }

  const std::string& unique_name() const { return unique_name_; }
  void begin_drain(std::function<void()> on_drained) {
    bool now = false;
    {
      std::lock_guard lock(drain_mutex_);
      if (!on_drained_ && !drained_) on_drained_ = std::move(on_drained);
      now = thread_done_;
    }
    draining_ = true;
    if (now) report_drained();  // the thread is gone (bus lost): nothing runs over D-Bus
    mailbox_->signal();         // the thread checks what is left
  }

 private:
  void run() {
    bool bus_lost = false;
    while (!stopping_) {
      try {
        while (connection_->processPendingRequest()) {
        }
        object_->deliver(mailbox_->take());
        // After every wakeup: a request changes ActiveRequests, the engine's watcher rings
        // for State.
        object_->refresh_properties();
        if (draining_ && object_->num_requests() == 0) report_drained();
        // take() may have consumed the destructor's doorbell: look at the flag before
        // blocking (a ring after this check stays in the eventfd and ends the poll).
        if (stopping_) break;
        wait();
      } catch (const sdbus::Error& error) {
        // Handler errors become replies inside sdbus-c++; one that reaches here means the
        // connection itself failed (the bus went away). Its fd would stay readable forever,
        // so the service stops instead of spinning; the rest of mmd goes on without D-Bus.
        log_error("D-Bus: the service stops: " + error.getName() + ": " + error.getMessage());
        bus_lost = true;
        break;
      } catch (const std::exception& error) {
        log_warning(std::string("D-Bus: ") + error.what());
      }
    }
    try {
      object_->shutdown();
      if (!bus_lost) connection_->releaseName(options_.bus_name);
    } catch (const std::exception& error) {
      log_warning(std::string("D-Bus: stopping: ") + error.what());
    }
    {
      std::lock_guard lock(drain_mutex_);
      thread_done_ = true;
    }
    if (draining_) report_drained();  // shutdown() ended what was left
  }

  // Calls the drain callback once.
  void report_drained() {
    std::function<void()> callback;
    {
      std::lock_guard lock(drain_mutex_);
      if (drained_) return;
      drained_ = true;
      callback = std::exchange(on_drained_, nullptr);
    }
    if (callback) callback();
  }

  // Blocks until the bus or the mailbox has something, or the bus's own timeout (a pending
  // call's; none while idle).
  void wait() {
    const sdbus::IConnection::PollData data = connection_->getEventLoopPollData();
    std::optional<std::chrono::milliseconds> timeout;
    if (data.timeout_usec != std::numeric_limits<uint64_t>::max()) {
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC, &ts);
      const uint64_t now_usec =
          static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
      const auto bus_timeout = std::chrono::milliseconds(
          data.timeout_usec > now_usec ? (data.timeout_usec - now_usec + 999) / 1000 : 0);
      timeout = bus_timeout;
    }
    pollfd fds[2] = {{data.fd, data.events, 0}, {mailbox_->fd(), POLLIN, 0}};
    const int timeout_ms =
        timeout ? static_cast<int>(std::clamp<int64_t>(timeout->count(), 0, INT32_MAX)) : -1;
    if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR)
      throw std::system_error(errno, std::generic_category(), "poll");
  }

  Engine& engine_;
  DbusServiceOptions options_;
  std::shared_ptr<Mailbox> mailbox_;
  int state_watch_ = 0;
  std::mutex drain_mutex_;  // guards on_drained_, drained_, thread_done_
  std::function<void()> on_drained_;
  bool drained_ = false;
  bool thread_done_ = false;
  std::unique_ptr<sdbus::IConnection> connection_;
  std::string unique_name_;
  std::unique_ptr<Engine1Object> object_;
  sdbus::Slot name_watch_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::thread thread_;
};

DbusService::DbusService(Engine& engine, DbusServiceOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

DbusService::~DbusService() = default;

void DbusService::begin_drain(std::function<void()> on_drained) {
  impl_->begin_drain(std::move(on_drained));
}

const std::string& DbusService::unique_name() const {
  return impl_->unique_name();
}

}  // namespace mm
