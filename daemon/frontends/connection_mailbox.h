// The hand-off from the engine thread to the shared-memory server's loop thread: each request's
// sink posts its tokens and its finish here (a mutex-guarded append, never blocking on the
// client) and pokes the loop through a uv_async handle; the loop thread takes the events,
// encodes them and writes the rings. Encoding and back-pressure stay off the engine thread.
// post() is called on the engine thread, take() on the loop thread; both thread-safe.
#pragma once

#include <uv.h>

#include <memory>
#include <mutex>
#include <utility>
#include <string>
#include <vector>

#include "daemon/engine/request.h"

namespace mm {

// Wakes the server's loop thread; detached (a no-op) once the server has closed its handle.
class LoopNotifier {
 public:
  explicit LoopNotifier(uv_async_t* async) : async_(async) {}
  void notify() {
    std::lock_guard lock(mutex_);
    if (async_ != nullptr) uv_async_send(async_);
  }
  void detach() {
    std::lock_guard lock(mutex_);
    async_ = nullptr;
  }

 private:
  std::mutex mutex_;
  uv_async_t* async_;
};

class ConnectionMailbox {
 public:
  struct Event {
    uint64_t client_id = 0;  // the Submit's frame id
    bool finished = false;
    SampleResult token;  // when !finished
    FinishReason reason = FinishReason::kStop;
    Usage usage;
    std::string message;
    // Set: this event carries the prompt's scores (RequestSink::on_prompt_logprobs), no token.
    std::shared_ptr<const std::vector<ScoredToken>> prompt_scores;
  };

  explicit ConnectionMailbox(std::shared_ptr<LoopNotifier> notifier)
      : notifier_(std::move(notifier)) {}

  void post(Event event) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      events_.push_back(std::move(event));
    }
    notifier_->notify();
  }
  std::vector<Event> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(events_, {});
  }
  // The connection is gone: later events are dropped.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    events_.clear();
  }

 private:
  std::shared_ptr<LoopNotifier> notifier_;
  std::mutex mutex_;
  std::vector<Event> events_;
  bool closed_ = false;
};

// One request's sink: forwards to its connection's mailbox.
class MailboxSink : public RequestSink {
 public:
  MailboxSink(std::shared_ptr<ConnectionMailbox> mailbox, uint64_t client_id)
      : mailbox_(std::move(mailbox)), client_id_(client_id) {}
  void on_token(RequestId, const SampleResult& token) override {
    mailbox_->post({client_id_, false, token, FinishReason::kStop, {}, {}, nullptr});
  }
  void on_prompt_logprobs(RequestId, std::span<const ScoredToken> scores) override {
    mailbox_->post({client_id_, false, {}, FinishReason::kStop, {}, {},
                    std::make_shared<const std::vector<ScoredToken>>(scores.begin(), scores.end())});
  }
  void on_finish(RequestId, FinishReason reason, const Usage& usage,
                 const std::string& message) override {
    mailbox_->post({client_id_, true, {}, reason, usage, message, nullptr});
  }

 private:
  std::shared_ptr<ConnectionMailbox> mailbox_;
  uint64_t client_id_;
};

}  // namespace mm
