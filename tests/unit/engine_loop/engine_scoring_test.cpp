// Prompt scoring through the engine (params.prompt_logprobs): each prompt token's logprob, rank
// and top n must be the log-softmax of a full forward's logits at the position before it
// (checked against the model runner directly and against the Hugging Face goldens), whatever
// the chunking, and a scoring request must compute every position even when its prefix is
// cached. max_tokens 0 scores without generating.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>

#include "daemon/engine/engine.h"
#include "tests/unit/runner/golden.h"

namespace mm {
namespace {

using namespace std::chrono_literals;

class ScoringSink : public RequestSink {
 public:
  void on_token(RequestId, const SampleResult& token) override {
    std::lock_guard lock(mutex_);
    if (!scores_seen_) token_before_scores_ = true;
    tokens_.push_back(token.token_id);
  }
  void on_prompt_logprobs(RequestId, std::span<const ScoredToken> scores) override {
    std::lock_guard lock(mutex_);
    ++num_score_calls_;
    scores_seen_ = true;
    scores_.assign(scores.begin(), scores.end());
  }
  void on_finish(RequestId, FinishReason reason, const Usage& usage,
                 const std::string& message) override {
    std::lock_guard lock(mutex_);
    reason_ = reason;
    usage_ = usage;
    message_ = message;
    done_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 60s, [this] { return done_; });
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool scores_seen_ = false;
  bool token_before_scores_ = false;
  int num_score_calls_ = 0;
  std::vector<ScoredToken> scores_;
  std::vector<int32_t> tokens_;
  FinishReason reason_ = FinishReason::kError;
  Usage usage_;
  std::string message_;
};

EngineOptions options_for(const std::string& folder, int max_num_batched_tokens) {
  EngineOptions options;
  options.model = std::string(MMD_FIXTURE_DIR) + "/" + folder;
  options.runner.kv_dtype = KvDType::kF32;  // exact: the engine and the runner must agree
  options.runner.num_threads = 2;
  options.pool = BlockPoolOptions{
      .block_size = 4, .blocks_per_chunk = 64, .initial_num_chunks = 1, .max_num_chunks = 2};
  options.scheduler = SchedulerConfig{
      .max_num_batched_tokens = max_num_batched_tokens, .max_num_seqs = 8, .max_model_len = 256};
  return options;
}

EngineRequest scoring_request(std::vector<int32_t> prompt, int top_n, int max_tokens) {
  EngineRequest request;
  request.prompt_token_ids = std::move(prompt);
  request.params.temperature = 0.0f;
  request.params.max_tokens = max_tokens;
  request.params.ignore_eos = true;
  request.params.prompt_logprobs = top_n;
  return request;
}

std::shared_ptr<ScoringSink> run(Engine& engine, EngineRequest request) {
  auto sink = std::make_shared<ScoringSink>();
  engine.submit(std::move(request), sink);
  EXPECT_TRUE(sink->wait());
  return sink;
}

std::vector<int32_t> prompt_of(int length, int32_t seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>((seed * 37 + i * 11) % 250 + 3));
  return out;
}

std::vector<double> log_softmax(std::span<const float> row) {
  const float max_logit = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  for (float v : row)
    sum += std::exp(static_cast<double>(v) - max_logit);
  std::vector<double> out(row.size());
  for (size_t i = 0; i < row.size(); ++i)
    out[i] = static_cast<double>(row[i]) - max_logit - std::log(sum);
  return out;
}

// Checks `scores` (prompt tokens 1..) against `logits` [prompt.size(), vocab]: logprob, rank and
// the top n; returns the largest logprob difference.
double check_scores(const std::vector<ScoredToken>& scores, std::span<const int32_t> prompt,
                    std::span<const float> logits, size_t vocab, int top_n) {
  EXPECT_EQ(scores.size(), prompt.size() - 1);
  double worst = 0.0;
  for (size_t i = 0; i + 1 < prompt.size() && i < scores.size(); ++i) {
    const std::vector<double> want = log_softmax(logits.subspan(i * vocab, vocab));
    const ScoredToken& s = scores[i];
    EXPECT_EQ(s.token_id, prompt[i + 1]) << "position " << i;
    worst = std::max(worst, std::abs(s.logprob - want[static_cast<size_t>(prompt[i + 1])]));
    int rank = 1;
    for (size_t v = 0; v < vocab; ++v)
      rank += want[v] > want[static_cast<size_t>(prompt[i + 1])] ? 1 : 0;
    EXPECT_EQ(s.rank, rank) << "position " << i;
    EXPECT_EQ(s.top_logprobs.size(), static_cast<size_t>(top_n));
    for (size_t k = 0; k < s.top_logprobs.size(); ++k) {
      const TokenLogprob& t = s.top_logprobs[k];
      worst = std::max(worst, std::abs(t.logprob - want[static_cast<size_t>(t.token_id)]));
      if (k > 0) {
        EXPECT_GE(s.top_logprobs[k - 1].logprob, t.logprob) << "position " << i;
      }
      // Nothing outside the list beats its last entry.
      if (k + 1 == s.top_logprobs.size()) {
        int better = 0;
        for (size_t v = 0; v < vocab; ++v)
          better += want[v] > want[static_cast<size_t>(t.token_id)] ? 1 : 0;
        EXPECT_LE(better, top_n - 1) << "position " << i;
      }
    }
    if (s.rank <= top_n && !s.top_logprobs.empty()) {
      EXPECT_EQ(s.top_logprobs[static_cast<size_t>(s.rank - 1)].token_id, s.token_id);
    }
  }
  return worst;
}

TEST(EngineScoring, PromptLogprobsAreTheRunnersLogSoftmaxAtEveryPosition) {
  // A budget of 8 tokens splits the 29-token prompt into 4 chunks.
  Engine engine(options_for("tiny-bf16", 8));
  ASSERT_TRUE(engine.wait_ready(60s));
  const std::vector<int32_t> prompt = prompt_of(29, 3);
  auto sink = run(engine, scoring_request(prompt, 5, 3));
  ASSERT_EQ(sink->reason_, FinishReason::kLength) << sink->message_;
  EXPECT_EQ(sink->num_score_calls_, 1);
  EXPECT_FALSE(sink->token_before_scores_);
  EXPECT_EQ(sink->tokens_.size(), 3u);

  RunnerOptions runner_options;
  runner_options.kv_dtype = KvDType::kF32;
  runner_options.num_threads = 2;
  runner_options.block_size = 4;
  runner_options.num_kv_blocks = 64;
  auto runner = ModelRunner::load(std::string(MMD_FIXTURE_DIR) + "/tiny-bf16", runner_options);
  const std::vector<float> logits =
      testing::prefill_all_logits(*runner, prompt, prompt.size());  // one chunk
  const auto vocab = static_cast<size_t>(runner->config().vocab_size);
  // Same weights and numerics; only the chunking differs (f32 KV): ulps of f32 sums.
  EXPECT_LE(check_scores(sink->scores_, prompt, logits, vocab, 5), 1e-4);
}

TEST(EngineScoring, MatchesTheHuggingFaceGoldens) {
  Engine engine(options_for("tiny-bf16", 16));
  ASSERT_TRUE(engine.wait_ready(60s));
  const testing::Golden golden("tiny-bf16");
  for (int p = 0; p < 3; ++p) {
    const std::string prefix = "prompt." + std::to_string(p) + ".";
    const std::vector<int32_t> ids = golden.ids(prefix + "ids");
    const std::vector<float> logits = golden.f32(prefix + "logits");
    const size_t vocab = logits.size() / ids.size();
    auto sink = run(engine, scoring_request(ids, 3, 0));
    ASSERT_EQ(sink->reason_, FinishReason::kLength) << sink->message_;
    EXPECT_TRUE(sink->tokens_.empty());
    // The runner's golden bound is 2e-5 of the largest |logit| (≤ ~10, runner/golden_test.cpp);
    // a logprob moves by at most twice a logit's error: 4e-4 covers it.
    EXPECT_LE(check_scores(sink->scores_, ids, logits, vocab, 3), 4e-4) << "prompt " << p;
  }
}

TEST(EngineScoring, ACachedPrefixIsRecomputedForScoring) {
  Engine engine(options_for("tiny-bf16", 64));
  ASSERT_TRUE(engine.wait_ready(60s));
  const std::vector<int32_t> prompt = prompt_of(21, 7);
  // A plain request first: its full blocks are now in the prefix cache.
  EngineRequest plain = scoring_request(prompt, -1, 2);
  auto first = run(engine, std::move(plain));
  ASSERT_EQ(first->reason_, FinishReason::kLength);
  EngineRequest again = scoring_request(prompt, -1, 2);
  auto cached = run(engine, std::move(again));
  EXPECT_GT(cached->usage_.cached_prompt_tokens, 0);  // the cache does hit for a plain request

  auto scored = run(engine, scoring_request(prompt, 2, 0));
  ASSERT_EQ(scored->reason_, FinishReason::kLength) << scored->message_;
  EXPECT_EQ(scored->usage_.cached_prompt_tokens, 0);
  EXPECT_EQ(scored->usage_.prompt_tokens, 21);
  EXPECT_EQ(scored->usage_.completion_tokens, 0);
  ASSERT_EQ(scored->scores_.size(), 20u);
  // Same scores as a cold engine's.
  Engine cold(options_for("tiny-bf16", 64));
  ASSERT_TRUE(cold.wait_ready(60s));
  auto reference = run(cold, scoring_request(prompt, 2, 0));
  ASSERT_EQ(reference->scores_.size(), 20u);
  for (size_t i = 0; i < 20; ++i)
    EXPECT_FLOAT_EQ(scored->scores_[i].logprob, reference->scores_[i].logprob) << i;
}

TEST(EngineScoring, ScoringRequestsBatchWithOthersAndAgreeAlone) {
  Engine engine(options_for("tiny-bf16", 24));
  ASSERT_TRUE(engine.wait_ready(60s));
  const std::vector<int32_t> a = prompt_of(17, 1), b = prompt_of(13, 2);
  auto alone_a = run(engine, scoring_request(a, 1, 0));
  auto alone_b = run(engine, scoring_request(b, 1, 0));
  auto sink_a = std::make_shared<ScoringSink>();
  auto sink_b = std::make_shared<ScoringSink>();
  auto sink_c = std::make_shared<ScoringSink>();
  engine.submit(scoring_request(a, 1, 0), sink_a);
  engine.submit(scoring_request(prompt_of(9, 5), -1, 6), sink_c);  // a plain one between
  engine.submit(scoring_request(b, 1, 0), sink_b);
  ASSERT_TRUE(sink_a->wait() && sink_b->wait() && sink_c->wait());
  EXPECT_EQ(sink_c->tokens_.size(), 6u);
  EXPECT_EQ(sink_c->num_score_calls_, 0);
  ASSERT_EQ(sink_a->scores_.size(), 16u);
  ASSERT_EQ(sink_b->scores_.size(), 12u);
  for (size_t i = 0; i < 16; ++i)
    EXPECT_NEAR(sink_a->scores_[i].logprob, alone_a->scores_[i].logprob, 1e-5) << i;
  for (size_t i = 0; i < 12; ++i)
    EXPECT_NEAR(sink_b->scores_[i].logprob, alone_b->scores_[i].logprob, 1e-5) << i;
}

TEST(EngineScoring, OneTokenPromptAndMaxTokensZeroRules) {
  Engine engine(options_for("tiny-bf16", 16));
  ASSERT_TRUE(engine.wait_ready(60s));
  auto one = run(engine, scoring_request({42}, 2, 0));
  EXPECT_EQ(one->reason_, FinishReason::kLength);
  EXPECT_EQ(one->num_score_calls_, 1);  // told, with nothing to score
  EXPECT_TRUE(one->scores_.empty());

  auto refused = run(engine, scoring_request(prompt_of(5, 1), -1, 0));
  EXPECT_EQ(refused->reason_, FinishReason::kError);
  EXPECT_NE(refused->message_.find("max_tokens"), std::string::npos) << refused->message_;

  auto too_many = run(engine, scoring_request(prompt_of(5, 1), 100000, 0));
  EXPECT_EQ(too_many->reason_, FinishReason::kError);
  EXPECT_NE(too_many->message_.find("prompt_logprobs"), std::string::npos);
  // The engine keeps serving.
  auto after = run(engine, scoring_request(prompt_of(5, 1), 0, 1));
  EXPECT_EQ(after->reason_, FinishReason::kLength);
  EXPECT_EQ(after->scores_.size(), 4u);
  EXPECT_EQ(after->tokens_.size(), 1u);
}

}  // namespace
}  // namespace mm
