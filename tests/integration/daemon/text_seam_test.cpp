// The shared-memory frontend with a TextAdapter, in one process: a real Engine on the tiny
// checkpoint, a real ShmServer on its own libuv loop thread, libmmclient over real shared
// memory. The adapter is a stand-in for daemon/text (each token id reads as "<id>"), enough to
// check that text prompts and chat reach the engine as ids, that deltas carry the text, and
// that a stop string ends the request with reason "stop" and nothing after the match.
#include <gtest/gtest.h>
#include <uv.h>

#include <filesystem>
#include <thread>

#include "client/libmmclient/mmclient.h"
#include "daemon/engine/engine.h"
#include "daemon/frontends/shm_server.h"

namespace mm {
namespace {

using namespace std::chrono_literals;

class AngleStream : public TextStream {
 public:
  explicit AngleStream(std::vector<std::string> stop) : stop_(std::move(stop)) {}
  void push(std::span<const int32_t> ids, ipc::Delta& out) override {
    for (int32_t id : ids) {
      if (matched_) return;
      const size_t before = text_.size();
      text_ += "<" + std::to_string(id) + ">";
      for (const std::string& s : stop_) {
        const size_t at = text_.find(s);
        if (at != std::string::npos) {
          matched_ = true;
          if (at > before) out.text += text_.substr(before, at - before);
          return;
        }
      }
      out.text += text_.substr(before);
    }
  }
  void finish(ipc::Delta&) override {}
  bool stop_matched() const override { return matched_; }

 private:
  std::vector<std::string> stop_;
  std::string text_;
  bool matched_ = false;
};

class AngleAdapter : public TextAdapter {
 public:
  std::vector<int32_t> encode_prompt(const std::string& prompt) override {
    std::vector<int32_t> ids;
    for (unsigned char c : prompt)
      ids.push_back(static_cast<int32_t>(c % 200 + 5));
    return ids;
  }
  text::ChatPrompt render_chat(const text::ChatRequest& request) override {
    std::string all;
    for (const auto& m : request.messages) {
      if (m.role != "user" && m.role != "assistant" && m.role != "system")
        throw std::invalid_argument("message role '" + m.role + "' is not supported");
      all += m.role + ":" + (m.content.is_string() ? m.content.as_string() : "") + ";";
    }
    text::ChatPrompt prompt;
    prompt.text = all;
    prompt.token_ids = encode_prompt(all);
    return prompt;
  }
  std::unique_ptr<TextStream> open_stream(const TextStreamOptions& options) override {
    return std::make_unique<AngleStream>(options.stop);
  }
};

class TextSeam : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mmd-text-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    EngineOptions options;
    options.model = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";
    options.runner.kv_dtype = KvDType::kF32;
    options.runner.num_threads = 1;
    options.pool = BlockPoolOptions{
        .block_size = 4, .blocks_per_chunk = 64, .initial_num_chunks = 1, .max_num_chunks = 4};
    options.scheduler =
        SchedulerConfig{.max_num_batched_tokens = 64, .max_num_seqs = 8, .max_model_len = 256};
    engine_ = std::make_unique<Engine>(options);
    ASSERT_TRUE(engine_->wait_ready(60s));
    uv_loop_init(&loop_);
    ShmServerOptions server_options;
    server_options.socket_path = dir_ + "/mmd.sock";
    server_options.served_model_name = "tiny";
    server_options.text = std::make_shared<AngleAdapter>();
    server_ = std::make_unique<ShmServer>(&loop_, *engine_, server_options);
    server_->start();
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
      static_cast<ShmServer*>(a->data)->close();
      uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
    });
    stop_.data = server_.get();
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    client::ConnectOptions connect;
    connect.socket_path = server_options.socket_path;
    client_ = client::Client::connect(connect);
  }
  void TearDown() override {
    client_.reset();
    if (thread_.joinable()) {
      uv_async_send(&stop_);
      thread_.join();
    }
    server_.reset();
    engine_.reset();
    uv_loop_close(&loop_);
    std::filesystem::remove_all(dir_);
  }

  struct Result {
    client::Outcome outcome;
    std::vector<int32_t> tokens;
    std::string text;
  };
  Result run(const ipc::Submit& submit) {
    Result r;
    const uint64_t id = client_->submit(submit);
    r.outcome = client_->stream(
        id,
        [&](const ipc::Delta& d) {
          r.tokens.insert(r.tokens.end(), d.token_ids.begin(), d.token_ids.end());
          r.text += d.text;
        },
        30s);
    return r;
  }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<ShmServer> server_;
  std::thread thread_;
  std::unique_ptr<client::Client> client_;
};

ipc::Submit greedy_text(const std::string& prompt, int max_tokens) {
  ipc::Submit submit;
  submit.prompt = prompt;
  submit.sampling.temperature = 0.0f;
  submit.sampling.max_tokens = max_tokens;
  submit.sampling.ignore_eos = true;
  return submit;
}

std::string angles(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids)
    out += "<" + std::to_string(id) + ">";
  return out;
}

TEST_F(TextSeam, TextPromptStreamsTextWithItsTokens) {
  const Result r = run(greedy_text("hello", 8));
  ASSERT_TRUE(r.outcome.ok) << r.outcome.error.message;
  EXPECT_EQ(r.outcome.finished.usage.prompt_tokens, 5);
  ASSERT_EQ(r.tokens.size(), 8u);
  EXPECT_EQ(r.text, angles(r.tokens));
}

TEST_F(TextSeam, StopStringEndsTheRequestAsStopWithNothingAfterIt) {
  const Result free_run = run(greedy_text("stop here", 12));
  ASSERT_EQ(free_run.tokens.size(), 12u);
  // Stop at the first occurrence of the fourth token's text.
  const std::string stop = "<" + std::to_string(free_run.tokens[3]) + ">";
  const size_t first = angles(free_run.tokens).find(stop);
  ipc::Submit submit = greedy_text("stop here", 12);
  submit.sampling.stop = {stop};
  const Result r = run(submit);
  ASSERT_TRUE(r.outcome.ok) << r.outcome.error.message;
  EXPECT_EQ(r.outcome.finished.reason, "stop");
  EXPECT_EQ(r.text, angles(free_run.tokens).substr(0, first));
  EXPECT_LE(r.tokens.size(), 4u);
  EXPECT_EQ(r.outcome.finished.usage.completion_tokens, static_cast<int>(r.tokens.size()));
  const auto status = client_->status();
  EXPECT_EQ(status.num_running, 0);
}

TEST_F(TextSeam, ChatIsRenderedAndBadMessagesFailAlone) {
  ipc::Submit chat;
  chat.messages = {ipc::ChatMessage{"user", "hi", "", "", "", ""}};
  chat.sampling.temperature = 0.0f;
  chat.sampling.max_tokens = 4;
  const Result r = run(chat);
  ASSERT_TRUE(r.outcome.ok) << r.outcome.error.message;
  EXPECT_EQ(r.outcome.finished.usage.prompt_tokens, 8);  // "user:hi;"
  chat.messages[0].role = "robot";
  const Result bad = run(chat);
  EXPECT_FALSE(bad.outcome.ok);
  EXPECT_EQ(bad.outcome.error.code, ipc::ErrorCode::kBadRequest);
  EXPECT_NE(bad.outcome.error.message.find("'messages[0].role' 'robot' is not one of"),
            std::string::npos)
      << bad.outcome.error.message;
  // Tool history that crashed the daemon before one prompt path (issue 21): each fails alone.
  chat.messages[0].role = "user";
  ipc::ChatMessage call{"assistant", "", "", R"({"id": "c"})", "", "", ""};
  chat.messages.push_back(call);
  const Result not_array = run(chat);
  EXPECT_NE(not_array.outcome.error.message.find("'messages[1].tool_calls' must be an array"),
            std::string::npos)
      << not_array.outcome.error.message;
  chat.messages.back().tool_calls_json = R"([{"function": {"name": "f", "arguments": 5}}])";
  const Result number = run(chat);
  EXPECT_NE(number.outcome.error.message.find("must be a JSON object (or its text), not a number"),
            std::string::npos)
      << number.outcome.error.message;
  chat.messages.back().tool_calls_json = "[{";
  EXPECT_NE(run(chat).outcome.error.message.find("'messages[1].tool_calls' is not valid JSON"),
            std::string::npos);
  EXPECT_TRUE(run(greedy_text("again", 2)).outcome.ok);
}

}  // namespace
}  // namespace mm
