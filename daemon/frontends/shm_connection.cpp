#include "daemon/frontends/shm_connection.h"

#include <unistd.h>

#include "daemon/engine/engine.h"
#include "daemon/frontends/shm_server.h"
#include "daemon/service/log.h"
#include "ipc/codec.h"

namespace mm {

ShmConnection::ShmConnection(ShmServer& server, uint64_t id, int socket_fd,
                             ipc::PeerCredentials peer, ipc::ShmSegment segment)
    : server_(server),
      id_(id),
      socket_fd_(socket_fd),
      peer_(peer),
      segment_(std::move(segment)),
      endpoint_(socket_fd, segment_.to_client(), segment_.to_daemon()),
      mailbox_(std::make_shared<ConnectionMailbox>(server.notifier())),
      self_ref_(std::make_shared<ShmConnection*>(this)) {
  poll_.data = this;
}

void ShmConnection::start(uv_loop_t* loop) {
  uv_poll_init(loop, &poll_, socket_fd_);
  uv_idle_init(loop, &more_);
  more_.data = this;
  handles_open_ = 2;
  uv_poll_start(&poll_, UV_READABLE | UV_DISCONNECT, &ShmConnection::on_poll);
  service();  // the client may have written its Hello before we watched the socket
}

void ShmConnection::on_poll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<ShmConnection*>(handle->data);
  if (self->closing_) return;
  if (status < 0) {
    self->close(std::string("socket error: ") + uv_strerror(status));
    return;
  }
  if ((events & UV_READABLE) != 0 && !ipc::drain_wakes(self->socket_fd_)) {
    self->close("the client closed the connection");
    return;
  }
  if ((events & UV_DISCONNECT) != 0) {
    self->close("the client closed the connection");
    return;
  }
  self->service();
}

void ShmConnection::service() {
  for (int taken = 0;; ++taken) {
    if (taken == kFramesPerTurn) {
      // A client that keeps writing must not keep the loop every client shares: the rest of
      // its frames wait for the next turn of the loop (the idle handle does not block it).
      flush();
      if (!closing_) uv_idle_start(&more_, &ShmConnection::on_more);
      return;
    }
    const auto result = endpoint_.try_receive(scratch_);
    if (result == ipc::ShmRing::ReadResult::kFrame) {
      ++num_frames_received_;
      ipc::ClientFrame frame;
      try {
        frame = ipc::decode_client_frame(scratch_);
      } catch (const ipc::ProtocolError& error) {
        fail_connection(ipc::ErrorCode::kBadFrame,
                        "frame " + std::to_string(num_frames_received_) + ": " + error.what());
        return;
      }
      handle_frame(std::move(frame));
      if (closing_) return;
      continue;
    }
    if (result == ipc::ShmRing::ReadResult::kCorrupt) {
      fail_connection(ipc::ErrorCode::kBadFrame,
                      "the client's ring is corrupt after frame " +
                          std::to_string(num_frames_received_) +
                          " (a length or position no writer could produce)");
      return;
    }
    if (endpoint_.prepare_wait_for_frame()) break;
  }
  flush();
}

void ShmConnection::on_more(uv_idle_t* handle) {
  auto* self = static_cast<ShmConnection*>(handle->data);
  uv_idle_stop(handle);
  if (!self->closing_) self->service();
}

void ShmConnection::reply(uint64_t id, ipc::ServerMessage message) {
  const bool accepted = std::holds_alternative<ipc::Accepted>(message);
  std::string bytes = ipc::encode(ipc::ServerFrame{id, std::move(message)});
  if (bytes.size() > endpoint_.max_frame_bytes()) {
    // Too large for the client's ring whatever it reads: that one reply fails, not the
    // connection. An Accepted (with the prompt's ids) fails its request as a whole.
    if (auto it = requests_.find(id); accepted && it != requests_.end()) {
      fail_request(id, it->second, too_large(bytes.size()));
      return;
    }
    bytes = ipc::encode(
        ipc::ServerFrame{id, ipc::Error{ipc::ErrorCode::kBadRequest, too_large(bytes.size())}});
  }
  queue_control(std::move(bytes));
}

std::string ShmConnection::too_large(size_t bytes) const {
  return "a reply of " + std::to_string(bytes) + " bytes does not fit this client's ring (" +
         std::to_string(endpoint_.max_frame_bytes()) +
         " bytes at most per frame): ask for fewer logprobs or prompt ids, or connect with a "
         "larger ring (--ipc-ring-bytes)";
}

void ShmConnection::queue_control(std::string bytes) {
  // A client that sends commands and never reads its replies must not grow the daemon.
  if (control_.size() >= kMaxQueuedReplies) {
    overflowed_ = true;
    return;
  }
  control_.push_back(std::move(bytes));
}

void ShmConnection::handle_frame(ipc::ClientFrame frame) {
  const uint64_t id = frame.id;
  if (!hello_done_ && !std::holds_alternative<ipc::Hello>(frame.message)) {
    fail_connection(ipc::ErrorCode::kBadFrame, std::string("frame 1 is a ") +
                                                   ipc::message_name(frame.message) +
                                                   "; the first frame must be a Hello");
    return;
  }
  if (auto* hello = std::get_if<ipc::Hello>(&frame.message)) {
    if (hello->protocol_version != ipc::kProtocolVersion) {
      fail_connection(ipc::ErrorCode::kUnsupportedVersion,
                      "protocol version " + std::to_string(hello->protocol_version) +
                          " is not supported; this daemon speaks " +
                          std::to_string(ipc::kProtocolVersion));
      return;
    }
    hello_done_ = true;
    log_debug("connection " + std::to_string(id_) + ": hello from '" + hello->client_name + "'");
    reply(id, ipc::HelloReply{ipc::kProtocolVersion, server_.options().daemon_version,
                              server_.options().served_model_name, id_});
  } else if (auto* submit = std::get_if<ipc::Submit>(&frame.message)) {
    handle_submit(id, *submit);
  } else if (std::holds_alternative<ipc::Cancel>(frame.message)) {
    auto it = requests_.find(id);
    if (it == requests_.end()) {
      reply(id, ipc::Error{ipc::ErrorCode::kUnknownRequest,
                           "cancel: no request " + std::to_string(id) + " on this connection"});
    } else if (it->second.preparing) {
      it->second.cancelled = true;  // it never reaches the engine
    } else if (!it->second.engine_done) {
      server_.engine().cancel(it->second.engine_id);
    }
  } else if (std::holds_alternative<ipc::StatusQuery>(frame.message)) {
    ipc::StatusReply status = server_.status_reply();
    // The settings are fixed at start and can be long (paths); a reply ring too small for
    // them (--ipc-ring-bytes is at least 1 KiB) still gets the live figures.
    std::string bytes = ipc::encode(ipc::ServerFrame{id, status});
    if (bytes.size() > endpoint_.max_frame_bytes()) {
      status.settings.clear();
      status.kv_tiers.clear();  // the per-tier table too; the restored-token total stays
      bytes = ipc::encode(ipc::ServerFrame{id, std::move(status)});
    }
    queue_control(std::move(bytes));
  } else if (auto* sleep = std::get_if<ipc::SleepCommand>(&frame.message)) {
    server_.engine().sleep(sleep->level, "a Sleep request over shm from pid " +
                                             std::to_string(peer_.pid) + " (uid " +
                                             std::to_string(peer_.uid) + ")");
    reply(id, ipc::Ack{});
  } else if (std::holds_alternative<ipc::WakeCommand>(frame.message)) {
    server_.engine().wake("a Wake request over shm from pid " + std::to_string(peer_.pid) +
                          " (uid " + std::to_string(peer_.uid) + ")");
    reply(id, ipc::Ack{});
  } else if (std::holds_alternative<ipc::ClearCacheCommand>(frame.message)) {
    server_.engine().clear_kv_cache("a ClearCache request over shm from pid " +
                                    std::to_string(peer_.pid) + " (uid " +
                                    std::to_string(peer_.uid) + ")");
    reply(id, ipc::Ack{});
  } else {
    fail_connection(ipc::ErrorCode::kBadFrame,
                    std::string(ipc::message_name(frame.message)) + " is not a client message");
  }
}

void ShmConnection::handle_submit(uint64_t id, ipc::Submit& submit) {
  const auto refuse = [&](ipc::ErrorCode code, std::string message) {
    reply(id, ipc::Error{code, "request " + std::to_string(id) + ": " + std::move(message)});
  };
  if (server_.draining()) {
    refuse(ipc::ErrorCode::kStopping, "the daemon is stopping and takes no new requests");
    return;
  }
  if (auto running = requests_.find(id); running != requests_.end()) {
    // One final reply per id: the running request ends with this Error (and no Finished);
    // the new Submit is not taken.
    if (!running->second.failed)
      fail_request(id, running->second,
                   "its id was reused by another Submit while it ran: both are refused (use a "
                   "new id per request)");
    return;
  }
  if (requests_.size() >= kMaxRequestsPerConnection) {
    refuse(ipc::ErrorCode::kBadRequest,
           "this connection already has " + std::to_string(requests_.size()) +
               " requests open (the limit is " + std::to_string(kMaxRequestsPerConnection) + ")");
    return;
  }
  const int num_forms = static_cast<int>(!submit.messages.empty()) +
                        static_cast<int>(!submit.prompt.empty()) +
                        static_cast<int>(!submit.prompt_token_ids.empty());
  if (num_forms != 1) {
    refuse(ipc::ErrorCode::kBadRequest,
           "exactly one of messages, prompt and prompt_token_ids must be given (got " +
               std::to_string(num_forms) + ")");
    return;
  }
  TextAdapter* text = server_.options().text.get();
  const bool needs_text = submit.prompt_token_ids.empty() || !submit.sampling.stop.empty() ||
                          !submit.sampling.bad_words.empty();
  if (needs_text && text == nullptr) {
    refuse(ipc::ErrorCode::kNotSupported,
           std::string(!submit.messages.empty()        ? "chat messages"
                       : !submit.prompt.empty()        ? "a text prompt"
                       : !submit.sampling.stop.empty() ? "stop strings"
                                                       : "bad_words") +
               " need the tokenizer, which this daemon does not have for its model; send "
               "prompt_token_ids");
    return;
  }
  // The rest (template rendering, tokenizing, bad words) runs on libuv's worker pool: one large
  // request must not stall the loop every client shares. The id is taken now.
  auto work = std::make_unique<SubmitWork>();
  work->req.data = work.get();
  work->connection = self_ref_;
  work->client_id = id;
  work->text = server_.options().text;
  work->default_sampling = server_.options().default_sampling;
  work->limits = ModelLimits{server_.options().max_model_len, server_.options().vocab_size};
  work->submit = std::move(submit);
  requests_[id].preparing = true;
  SubmitWork* raw = work.get();
  const int rc = uv_queue_work(poll_.loop, &raw->req, &ShmConnection::prepare_submit,
                               &ShmConnection::submit_prepared);
  if (rc != 0) {
    requests_.erase(id);
    refuse(ipc::ErrorCode::kBadRequest,
           std::string("cannot queue the request: ") + uv_strerror(rc));
    return;
  }
  static_cast<void>(work.release());  // submit_prepared owns it
}

// Worker thread: everything between the Submit and the engine that may take long.
void ShmConnection::prepare_submit(uv_work_t* req) {
  SubmitWork& work = *static_cast<SubmitWork*>(req->data);
  ipc::Submit& submit = work.submit;
  EngineRequest& request = work.request;
  TextAdapter* text = work.text.get();
  if (auto problem = to_sampling_params(submit.sampling, work.default_sampling, request.params)) {
    work.error = *problem;
    return;
  }
  try {
    TextStreamOptions stream_options{
        .stop = submit.sampling.stop,
        .include_stop_str_in_output = submit.include_stop_str_in_output,
        .skip_special_tokens = submit.skip_special_tokens};
    if (!submit.messages.empty()) {
      const text::ChatRequest chat = to_chat_request(submit);
      const text::ChatPrompt prompt = text->render_chat(chat);
      request.prompt_token_ids = prompt.token_ids;
      stream_options.chat = &chat;
      work.stream = open_chat_stream(*text, prompt, stream_options, work.primed);
      request.constraint = text->make_constraint(chat);
    } else {
      if (!submit.prompt.empty()) {
        request.prompt_token_ids = text->encode_prompt(submit.prompt);
      } else {
        request.prompt_token_ids = std::move(submit.prompt_token_ids);
      }
      if (text != nullptr) work.stream = text->open_stream(stream_options);
    }
  } catch (const std::invalid_argument& error) {
    work.error = error.what();
    return;
  }
  if (auto problem = fit_request_to_model(submit.sampling, work.limits, text,
                                          !submit.messages.empty() ? "messages"
                                          : !submit.prompt.empty() ? "prompt"
                                                                   : "prompt_token_ids",
                                          request)) {
    work.error = problem->message;
    return;
  }
  request.priority = submit.priority;
}

// Loop thread: the prepared request goes to the engine, unless its client went away, cancelled
// it or reused its id meanwhile.
void ShmConnection::submit_prepared(uv_work_t* req, int) {
  std::unique_ptr<SubmitWork> work(static_cast<SubmitWork*>(req->data));
  ShmConnection* self = *work->connection;
  if (self != nullptr) self->start_prepared(*work);
}

void ShmConnection::start_prepared(SubmitWork& work) {
  const uint64_t id = work.client_id;
  auto it = requests_.find(id);
  if (closing_ || it == requests_.end()) return;
  Request& entry = it->second;
  entry.preparing = false;
  if (entry.failed || entry.cancelled) {
    // Its one final reply: the Error already decided, or the cancel's Finished.
    entry.engine_done = true;
    if (!entry.failed)
      entry.last = ipc::Finished{"cancelled", "cancelled before it started", ipc::Usage{}};
  } else if (work.error) {
    requests_.erase(it);
    reply(id, ipc::Error{ipc::ErrorCode::kBadRequest,
                         "request " + std::to_string(id) + ": " + *work.error});
  } else {
    const int prompt_tokens = static_cast<int>(work.request.prompt_token_ids.size());
    std::vector<int32_t> prompt_ids;
    if (work.submit.return_prompt_token_ids) prompt_ids = work.request.prompt_token_ids;
    const RequestId engine_id = server_.engine().submit(
        std::move(work.request), std::make_shared<MailboxSink>(mailbox_, id));
    entry.engine_id = engine_id;
    entry.text = std::move(work.stream);
    // What the forced tool-call opening completed goes out right after Accepted.
    entry.pending = std::move(work.primed);
    reply(id, ipc::Accepted{engine_id, prompt_tokens, std::move(prompt_ids)});
  }
  flush();
  server_.check_drained();
}

void ShmConnection::deliver_engine_events() {
  if (closing_) return;
  for (ConnectionMailbox::Event& event : mailbox_->take()) {
    auto it = requests_.find(event.client_id);
    if (it == requests_.end()) continue;
    Request& request = it->second;
    if (!event.finished) {
      if (request.failed || request.stopped) continue;
      ++request.num_tokens;
      request.pending.token_ids.push_back(event.token.token_id);
      if (request.text) {
        request.text->push(std::span(&event.token.token_id, 1), request.pending);
        if (request.text->stop_matched()) {
          request.stopped = true;
          server_.engine().cancel(request.engine_id);
        }
      }
      if (event.token.logprob) {
        ipc::TokenLogprobs lp{event.token.token_id, event.token.logprob->logprob, {}};
        for (const TokenLogprob& top : event.token.top_logprobs)
          lp.top.emplace_back(top.token_id, top.logprob);
        request.pending.logprobs.push_back(std::move(lp));
      }
      continue;
    }
    request.engine_done = true;
    if (request.failed) continue;
    if (request.text && !request.stopped) request.text->finish(request.pending);
    // After a stop string the client saw only the tokens up to it, whatever the engine did
    // with the steps it had already scheduled (ran to length, or took the cancel).
    const bool stopped = request.stopped;
    request.last =
        ipc::Finished{stopped ? std::string("stop") : std::string(finish_reason_name(event.reason)),
                      stopped ? std::string() : event.message,
                      ipc::Usage{event.usage.prompt_tokens,
                                 stopped ? request.num_tokens : event.usage.completion_tokens,
                                 event.usage.cached_prompt_tokens}};
  }
  flush();
  // Back-pressure: what is still pending did not fit in the client's ring.
  const int limit = server_.options().max_unread_tokens;
  bool cancelled = false;
  for (auto& [client_id, request] : requests_) {
    if (request.failed || static_cast<int>(request.pending.token_ids.size()) <= limit) continue;
    const std::string message =
        "request " + std::to_string(client_id) + " (engine request " +
        std::to_string(request.engine_id) + ") cancelled: the client left " +
        std::to_string(request.pending.token_ids.size()) +
        " tokens unread beyond its full ring (limit " + std::to_string(limit) + ")";
    log_warning("connection " + std::to_string(id_) + ": " + message);
    if (!request.engine_done) server_.engine().cancel(request.engine_id);
    request.failed = true;
    request.pending = {};
    request.last = ipc::Error{ipc::ErrorCode::kSlowReader, message};
    cancelled = true;
  }
  if (cancelled) flush();
}

bool ShmConnection::send_frame(const std::string& bytes) {
  if (endpoint_.try_send(bytes)) return true;
  // Ask the client to wake us when it frees space, then look again (no lost wake-up).
  endpoint_.prepare_wait_for_room();
  if (endpoint_.try_send(bytes)) return true;
  blocked_ = true;
  return false;
}

void ShmConnection::flush() {
  if (closing_) return;
  if (overflowed_) {
    close("the client left " + std::to_string(kMaxQueuedReplies) +
          " replies unread and sent more commands (it does not read its ring)");
    return;
  }
  blocked_ = false;
  try {
    while (!control_.empty()) {
      if (!send_frame(control_.front())) return;
      control_.pop_front();
    }
    for (auto it = requests_.begin(); it != requests_.end();) {
      Request& request = it->second;
      if (!request.pending.token_ids.empty() || !request.pending.text.empty() ||
          !request.pending.reasoning.empty() || !request.pending.tool_calls.empty()) {
        const std::string bytes = ipc::encode(ipc::ServerFrame{it->first, request.pending});
        if (bytes.size() > endpoint_.max_frame_bytes()) {
          // This request's output cannot be delivered (logprobs 1024 on a small ring, say):
          // it alone fails, with the reason; the connection and its other requests go on.
          fail_request(it->first, request, too_large(bytes.size()));
        } else {
          if (!send_frame(bytes)) return;
          request.pending = {};
        }
      }
      if (request.last) {
        if (!send_frame(ipc::encode(ipc::ServerFrame{it->first, *request.last}))) return;
        request.last.reset();
        if (!request.engine_done) {  // an Error decided here; the engine's finish will follow
          ++it;
          continue;
        }
      }
      if (request.engine_done && !request.last) {
        it = requests_.erase(it);
      } else {
        ++it;
      }
    }
  } catch (const std::length_error& error) {
    close(std::string("a reply does not fit the client's ring: ") + error.what());
    return;
  }
  if (endpoint_.peer_closed()) {
    close("the client closed the connection");
    return;
  }
  server_.check_drained();
}

void ShmConnection::fail_request(uint64_t client_id, Request& request, const std::string& why) {
  log_warning("connection " + std::to_string(id_) + ": request " + std::to_string(client_id) +
              " (engine request " + std::to_string(request.engine_id) + ") failed: " + why);
  if (!request.engine_done && !request.preparing) server_.engine().cancel(request.engine_id);
  request.failed = true;
  request.pending = {};
  request.last =
      ipc::Error{ipc::ErrorCode::kBadRequest, "request " + std::to_string(client_id) + ": " + why};
}

void ShmConnection::fail_connection(ipc::ErrorCode code, const std::string& message) {
  log_warning("connection " + std::to_string(id_) + " (pid " + std::to_string(peer_.pid) +
              ", uid " + std::to_string(peer_.uid) + "): " + message + "; closing it");
  try {
    send_frame(ipc::encode(ipc::ServerFrame{0, ipc::Error{code, message}}));
  } catch (const std::exception&) {
  }
  close(message);
}

int ShmConnection::num_unfinished_requests() const {
  int count = 0;
  for (const auto& [id, request] : requests_)
    count += request.engine_done ? 0 : 1;
  return count;
}

bool ShmConnection::has_unsent_output() const {
  if (!control_.empty()) return true;
  for (const auto& [id, request] : requests_) {
    if (!request.pending.token_ids.empty() || request.last) return true;
  }
  return false;
}

void ShmConnection::close(const std::string& why) {
  if (closing_) return;
  closing_ = true;
  *self_ref_ = nullptr;  // preparations still on the worker pool are dropped when they end
  mailbox_->close();
  int num_cancelled = 0;
  for (auto& [id, request] : requests_) {
    if (!request.engine_done) {
      if (!request.preparing) server_.engine().cancel(request.engine_id);
      ++num_cancelled;
    }
  }
  log_info("connection " + std::to_string(id_) + " (pid " + std::to_string(peer_.pid) +
           ") closed: " + why +
           (num_cancelled > 0 ? "; cancelled " + std::to_string(num_cancelled) + " requests" : ""));
  requests_.clear();
  control_.clear();
  server_.connection_closed(id_);
  uv_poll_stop(&poll_);
  uv_idle_stop(&more_);
  const auto closed = [](uv_handle_t* handle) {
    auto* self = static_cast<ShmConnection*>(handle->data);
    if (--self->handles_open_ > 0) return;
    ::close(self->socket_fd_);
    delete self;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&more_), closed);
}

}  // namespace mm
