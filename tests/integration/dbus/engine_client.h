// A test client of org.mmd.Engine1 built on the generated proxy: records Delta, Finished and
// PropertiesChanged signals (delivered on the proxy's own event-loop thread) and lets the
// test thread wait for them with deadlines.
#pragma once

#include <gtest/gtest.h>
#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mmd_dbus/engine1_proxy.h"

namespace mm::testing {

// What a chat's ChatDelta signals said, assembled: the answer, the reasoning, and each tool call
// by index (its id and name from its first piece, the arguments text appended).
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};
struct ChatOutput {
  std::vector<int32_t> token_ids;
  std::string content;
  std::string reasoning;
  std::map<int, ToolCall> tool_calls;
  int num_deltas = 0;
};

struct Finished {
  std::string reason;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_prompt_tokens = 0;
  std::string message;
};

class EngineClient final
    : public sdbus::ProxyInterfaces<org::mmd::Engine1_proxy, sdbus::Properties_proxy> {
 public:
  EngineClient(const std::string& address, const std::string& bus_name = "org.mmd.Engine1")
      : ProxyInterfaces(sdbus::createSessionBusConnectionWithAddress(address), bus_name,
                        "/org/mmd/Engine1") {
    registerProxy();
  }
  ~EngineClient() { unregisterProxy(); }

  std::optional<Finished> wait_finished(uint64_t id, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return finished_.count(id) > 0; }))
      return std::nullopt;
    return finished_.at(id);
  }
  bool wait_first_delta(uint64_t id, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return !tokens_[id].empty(); });
  }
  bool wait_state(const std::string& state, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      for (const std::string& seen : states_seen_)
        if (seen == state) return true;
      return false;
    });
  }
  // Waits until PropertiesChanged has announced ActiveRequests == n (after any earlier value).
  bool wait_active_announced(uint32_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(
        lock, timeout, [&] { return !active_announced_.empty() && active_announced_.back() == n; });
  }
  std::vector<int32_t> tokens(uint64_t id) {
    std::lock_guard lock(mutex_);
    return tokens_[id];
  }
  ChatOutput chat(uint64_t id) {
    std::lock_guard lock(mutex_);
    return chat_[id];
  }
  std::string text(uint64_t id) {
    std::lock_guard lock(mutex_);
    return text_[id];
  }
  int num_deltas(uint64_t id) {
    std::lock_guard lock(mutex_);
    return num_deltas_[id];
  }

 private:
  void onDelta(const uint64_t& id, const std::vector<int32_t>& token_ids,
               const std::string& text) override {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(finished_.count(id), 0u) << "Delta after Finished for request " << id;
    tokens_[id].insert(tokens_[id].end(), token_ids.begin(), token_ids.end());
    text_[id] += text;
    ++num_deltas_[id];
    changed_.notify_all();
  }
  void onChatDelta(const uint64_t& id, const std::vector<int32_t>& token_ids,
                   const std::string& content, const std::string& reasoning,
                   const std::vector<sdbus::Struct<int32_t, std::string, std::string, std::string>>&
                       tool_calls) override {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(finished_.count(id), 0u) << "ChatDelta after Finished for request " << id;
    ChatOutput& out = chat_[id];
    out.token_ids.insert(out.token_ids.end(), token_ids.begin(), token_ids.end());
    tokens_[id].insert(tokens_[id].end(), token_ids.begin(), token_ids.end());
    out.content += content;
    out.reasoning += reasoning;
    for (const auto& piece : tool_calls) {
      ToolCall& call = out.tool_calls[piece.get<0>()];
      if (!piece.get<1>().empty()) call.id = piece.get<1>();
      if (!piece.get<2>().empty()) call.name = piece.get<2>();
      call.arguments += piece.get<3>();
    }
    ++out.num_deltas;
    changed_.notify_all();
  }
  void onFinished(const uint64_t& id, const std::string& reason, const uint32_t& prompt_tokens,
                  const uint32_t& completion_tokens, const uint32_t& cached_prompt_tokens,
                  const std::string& message) override {
    std::lock_guard lock(mutex_);
    finished_[id] =
        Finished{reason, prompt_tokens, completion_tokens, cached_prompt_tokens, message};
    changed_.notify_all();
  }
  void onPropertiesChanged(const std::string& interface_name,
                           const std::map<std::string, sdbus::Variant>& changed,
                           const std::vector<std::string>&) override {
    if (interface_name != "org.mmd.Engine1") return;
    std::lock_guard lock(mutex_);
    if (auto it = changed.find("State"); it != changed.end())
      states_seen_.push_back(it->second.get<std::string>());
    if (auto it = changed.find("ActiveRequests"); it != changed.end())
      active_announced_.push_back(it->second.get<uint32_t>());
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, std::vector<int32_t>> tokens_;
  std::map<uint64_t, std::string> text_;
  std::map<uint64_t, ChatOutput> chat_;
  std::map<uint64_t, int> num_deltas_;
  std::map<uint64_t, Finished> finished_;
  std::vector<std::string> states_seen_;
  std::vector<uint32_t> active_announced_;
};

}  // namespace mm::testing
