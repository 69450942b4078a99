// vLLM's request fields over shared memory, against the real mmd binary on the bundled tiny
// model (it has a tokenizer), through libmmclient: the one sampling check (an out-of-range
// temperature is kBadRequest naming it), skip_special_tokens and include_stop_str_in_output
// both ways, allowed_token_ids, bad_words, truncate_prompt_tokens, max_tokens beyond the
// context, and priority ordering the waiting requests.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "client/libmmclient/mmclient.h"
#include "tests/integration/daemon/daemon_process.h"

namespace mm {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;

constexpr int kMaxModelLen = 256;
constexpr int32_t kBeginOfTurn = 2003;  // `]~b]`, a special token of the MiniMax vocabulary

class VllmFields : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ =
        new DaemonProcess({"--model", std::string(MMD_SOURCE_DIR) + "/models/minimax-m2-tiny/bf16",
                           "--max-model-len", std::to_string(kMaxModelLen), "--max-num-seqs", "1"});
    ASSERT_TRUE(daemon_->wait_for_notification("READY=1", 60s)) << daemon_->log();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);
    client::ConnectOptions options;
    options.socket_path = daemon_->socket_path();
    options.client_name = "vllm_fields_test";
    client_ = client::Client::connect(options);
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
        60s);
    return r;
  }
  // The prompt's token ids, as the daemon's tokenizer gives them.
  std::vector<int32_t> ids_of(const std::string& text) {
    ipc::Submit submit;
    submit.prompt = text;
    submit.return_prompt_token_ids = true;
    submit.sampling.max_tokens = 1;
    const Result r = run(submit);
    EXPECT_TRUE(r.outcome.ok) << r.outcome.error.message;
    return r.outcome.prompt_token_ids;
  }

  static DaemonProcess* daemon_;
  std::unique_ptr<client::Client> client_;
};

DaemonProcess* VllmFields::daemon_ = nullptr;

ipc::Submit greedy(const std::string& prompt, int max_tokens) {
  ipc::Submit submit;
  submit.prompt = prompt;
  submit.sampling.temperature = 0.0f;
  submit.sampling.max_tokens = max_tokens;
  submit.sampling.ignore_eos = true;
  return submit;
}

TEST_F(VllmFields, OutOfRangeTemperatureIsBadRequestNamingIt) {
  ipc::Submit submit = greedy("Hello", 4);
  submit.sampling.temperature = 2.5f;
  const Result r = run(submit);
  ASSERT_FALSE(r.outcome.ok);
  EXPECT_EQ(r.outcome.error.code, ipc::ErrorCode::kBadRequest);
  EXPECT_NE(r.outcome.error.message.find("'temperature' must be in [0, 2], got 2.5"),
            std::string::npos)
      << r.outcome.error.message;
  // Token-id prompts go through the same check.
  ipc::Submit ids;
  ids.prompt_token_ids = {5, 6, 7};
  ids.sampling.top_k = -3;
  const Result bad_k = run(ids);
  ASSERT_FALSE(bad_k.outcome.ok);
  EXPECT_EQ(bad_k.outcome.error.code, ipc::ErrorCode::kBadRequest);
  EXPECT_NE(bad_k.outcome.error.message.find("'top_k' must be"), std::string::npos);
}

TEST_F(VllmFields, SpecialTokensAreLeftOutOfTheTextUnlessAskedFor) {
  ipc::Submit submit = greedy("Hello", 3);
  submit.sampling.allowed_token_ids = {kBeginOfTurn};  // the model can only say `]~b]`
  const Result skipped = run(submit);
  ASSERT_TRUE(skipped.outcome.ok) << skipped.outcome.error.message;
  EXPECT_EQ(skipped.tokens, (std::vector<int32_t>{kBeginOfTurn, kBeginOfTurn, kBeginOfTurn}));
  EXPECT_EQ(skipped.text, "");
  submit.skip_special_tokens = false;
  const Result shown = run(submit);
  ASSERT_TRUE(shown.outcome.ok) << shown.outcome.error.message;
  EXPECT_EQ(shown.text, "]~b]]~b]]~b]");
}

TEST_F(VllmFields, IncludeStopStrInOutputKeepsTheMatch) {
  const std::vector<int32_t> x = ids_of("x");
  ASSERT_EQ(x.size(), 1u);
  ipc::Submit submit = greedy("Hello", 8);
  submit.sampling.allowed_token_ids = x;  // "xxxxxxxx"
  submit.sampling.stop = {"xx"};
  const Result cut = run(submit);
  ASSERT_TRUE(cut.outcome.ok) << cut.outcome.error.message;
  EXPECT_EQ(cut.outcome.finished.reason, "stop");
  EXPECT_EQ(cut.text, "");
  submit.include_stop_str_in_output = true;
  const Result kept = run(submit);
  ASSERT_TRUE(kept.outcome.ok) << kept.outcome.error.message;
  EXPECT_EQ(kept.outcome.finished.reason, "stop");
  EXPECT_EQ(kept.text, "xx");
}

TEST_F(VllmFields, AllowedTokenIdsRestrictEverySampledToken) {
  const std::set<int32_t> allowed = {300, 301, 302, 777};
  ipc::Submit submit = greedy("Tell me a fortune.", 24);
  submit.sampling.temperature = 1.0f;
  submit.sampling.seed = 7;
  submit.sampling.allowed_token_ids.assign(allowed.begin(), allowed.end());
  const Result r = run(submit);
  ASSERT_TRUE(r.outcome.ok) << r.outcome.error.message;
  ASSERT_EQ(r.tokens.size(), 24u);
  for (int32_t token : r.tokens)
    EXPECT_TRUE(allowed.contains(token)) << token;
  // An id beyond the model's vocabulary is refused before the engine.
  submit.sampling.allowed_token_ids = {5, 2048 * 1000};
  const Result bad = run(submit);
  ASSERT_FALSE(bad.outcome.ok);
  EXPECT_EQ(bad.outcome.error.code, ipc::ErrorCode::kBadRequest);
  EXPECT_NE(bad.outcome.error.message.find("allowed_token_ids"), std::string::npos);
}

TEST_F(VllmFields, BadWordsAreNeverGenerated) {
  const std::vector<int32_t> x = ids_of("x");
  const std::vector<int32_t> y = ids_of("y");
  ASSERT_EQ(x.size(), 1u);
  ASSERT_EQ(y.size(), 1u);
  ipc::Submit submit = greedy("Hello", 6);
  submit.sampling.allowed_token_ids = {x[0], y[0]};
  submit.sampling.logit_bias = {{x[0], 50.0f}};  // x whenever it may be
  const Result free_run = run(submit);
  ASSERT_TRUE(free_run.outcome.ok) << free_run.outcome.error.message;
  EXPECT_EQ(free_run.text, "xxxxxx");
  submit.sampling.bad_words = {"x"};
  const Result banned = run(submit);
  ASSERT_TRUE(banned.outcome.ok) << banned.outcome.error.message;
  EXPECT_EQ(banned.text, "yyyyyy");
}

TEST_F(VllmFields, TruncatePromptTokensKeepsTheLastOnes) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 60; ++i)
    prompt.push_back(300 + i);
  ipc::Submit submit;
  submit.prompt_token_ids = prompt;
  submit.sampling.max_tokens = 2;
  submit.sampling.truncate_prompt_tokens = 10;
  submit.return_prompt_token_ids = true;
  const Result r = run(submit);
  ASSERT_TRUE(r.outcome.ok) << r.outcome.error.message;
  EXPECT_EQ(r.outcome.finished.usage.prompt_tokens, 10);
  EXPECT_EQ(r.outcome.prompt_token_ids, std::vector<int32_t>(prompt.end() - 10, prompt.end()));
  submit.sampling.truncate_prompt_tokens = kMaxModelLen + 1;
  const Result bad = run(submit);
  ASSERT_FALSE(bad.outcome.ok);
  EXPECT_EQ(bad.outcome.error.code, ipc::ErrorCode::kBadRequest);
  EXPECT_NE(bad.outcome.error.message.find("'truncate_prompt_tokens' (257) is greater than "
                                           "max_model_len (256)"),
            std::string::npos)
      << bad.outcome.error.message;
}

TEST_F(VllmFields, MaxTokensBeyondTheContextIsRefused) {
  ipc::Submit submit;
  submit.prompt_token_ids = std::vector<int32_t>(50, 300);
  submit.sampling.max_tokens = kMaxModelLen - 49;
  const Result r = run(submit);
  ASSERT_FALSE(r.outcome.ok);
  EXPECT_EQ(r.outcome.error.code, ipc::ErrorCode::kBadRequest);
  EXPECT_NE(r.outcome.error.message.find(
                "'max_tokens' is too large: 207. This model's maximum context length is 256 "
                "tokens. However, you requested 257 tokens (50 in the messages, 207 in the "
                "completion)."),
            std::string::npos)
      << r.outcome.error.message;
  // What fits runs; unset, max_tokens is what the context leaves.
  submit.sampling.max_tokens.reset();
  submit.sampling.ignore_eos = true;
  submit.sampling.temperature = 0.0f;
  const Result fits = run(submit);
  ASSERT_TRUE(fits.outcome.ok) << fits.outcome.error.message;
  EXPECT_LE(fits.outcome.finished.usage.completion_tokens, kMaxModelLen - 50);
}

TEST_F(VllmFields, PriorityOrdersTheWaitingRequests) {
  // One sequence at a time (--max-num-seqs 1): A holds the seat while B (priority 5) and then
  // C (priority -5) wait. When A goes, C runs first although it came later.
  ipc::Submit a = greedy("Hello", 200);
  ipc::Submit b = greedy("Hello", 200);
  b.priority = 5;
  ipc::Submit c = greedy("Hello", 200);
  c.priority = -5;
  const uint64_t id_a = client_->submit(a);
  auto first = client_->next(id_a, 30s);
  while (first && first->kind != client::Event::Kind::kDelta && !first->is_last())
    first = client_->next(id_a, 30s);
  ASSERT_TRUE(first && first->kind == client::Event::Kind::kDelta);
  const uint64_t id_b = client_->submit(b);
  const uint64_t id_c = client_->submit(c);
  // Both wait in the scheduler before A goes.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (client_->status().num_waiting < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  ASSERT_EQ(client_->status().num_waiting, 2);
  client_->cancel(id_a);
  // C's first token comes while B still waits (C has 200 tokens to go).
  std::optional<client::Event> event = client_->next(id_c, 30s);
  while (event && event->kind == client::Event::Kind::kAccepted)
    event = client_->next(id_c, 30s);
  ASSERT_TRUE(event && event->kind == client::Event::Kind::kDelta);
  for (auto e = client_->next(id_b, 0ms); e; e = client_->next(id_b, 0ms))
    EXPECT_EQ(e->kind, client::Event::Kind::kAccepted) << "B ran before C";
  client_->cancel(id_c);
  const client::Outcome done_b = client_->stream(
      id_b, [](const ipc::Delta&) {}, 60s);
  EXPECT_TRUE(done_b.ok) << done_b.error.message;
  client_->stream(
      id_a, [](const ipc::Delta&) {}, 60s);
  client_->stream(
      id_c, [](const ipc::Delta&) {}, 60s);
}

}  // namespace
}  // namespace mm
