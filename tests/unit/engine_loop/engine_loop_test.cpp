// The engine's step loop on a real tiny checkpoint: batching, preemption, prefix caching,
// cancellation, idle blocking, sleep and wake, seeds, stop conditions and request errors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "daemon/engine/engine.h"

namespace mm {
namespace {

using namespace std::chrono_literals;

class CollectingSink : public RequestSink {
 public:
  void on_token(RequestId, const SampleResult& token) override {
    std::lock_guard lock(mutex_);
    tokens_.push_back(token.token_id);
    cv_.notify_all();
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
  bool wait(std::chrono::milliseconds timeout = 60s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return done_; });
  }
  std::vector<int32_t> tokens() const {
    std::lock_guard lock(mutex_);
    return tokens_;
  }
  // Bounded: a request that never streams fails the test instead of hanging it.
  bool wait_for_tokens(size_t count, std::chrono::milliseconds timeout = 60s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return done_ || tokens_.size() >= count; }) &&
           tokens_.size() >= count;
  }
  size_t num_tokens() const {
    std::lock_guard lock(mutex_);
    return tokens_.size();
  }
  FinishReason reason() const { return reason_; }
  const Usage& usage() const { return usage_; }
  const std::string& message() const { return message_; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int32_t> tokens_;
  FinishReason reason_ = FinishReason::kError;
  Usage usage_;
  std::string message_;
  bool done_ = false;
};

EngineOptions tiny_options(int blocks_per_chunk = 64, int max_num_chunks = 4) {
  EngineOptions options;
  options.model = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";
  options.runner.kv_dtype = KvDType::kF32;  // exact: batched and alone must agree bit for bit
  options.runner.num_threads = 2;
  options.pool = BlockPoolOptions{.block_size = 4,
                                  .blocks_per_chunk = blocks_per_chunk,
                                  .initial_num_chunks = 1,
                                  .max_num_chunks = max_num_chunks};
  options.scheduler =
      SchedulerConfig{.max_num_batched_tokens = 64, .max_num_seqs = 16, .max_model_len = 256};
  return options;
}

EngineRequest greedy_request(std::vector<int32_t> prompt, int max_tokens) {
  EngineRequest request;
  request.prompt_token_ids = std::move(prompt);
  request.params.temperature = 0.0f;
  request.params.max_tokens = max_tokens;
  request.params.ignore_eos = true;
  return request;
}

std::vector<int32_t> prompt_of(int length, int32_t seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>((seed * 37 + i * 11) % 250 + 3));
  return out;
}

std::vector<int32_t> run_alone(Engine& engine, EngineRequest request) {
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(std::move(request), sink);
  EXPECT_TRUE(sink->wait());
  return sink->tokens();
}

TEST(EngineLoop, LoadsAndGeneratesGreedily) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(greedy_request(prompt_of(9, 1), 12), sink);
  ASSERT_TRUE(sink->wait());
  EXPECT_EQ(sink->reason(), FinishReason::kLength);
  EXPECT_EQ(sink->tokens().size(), 12u);
  EXPECT_EQ(sink->usage().prompt_tokens, 9);
  EXPECT_EQ(sink->usage().completion_tokens, 12);
  const EngineStatus status = engine.status();
  EXPECT_EQ(status.state, EngineState::kReady);
  EXPECT_EQ(status.generation_tokens_total, 12u);
  EXPECT_EQ(status.time_to_first_token.count, 1u);
  EXPECT_EQ(status.inter_token_latency.count, 11u);
  EXPECT_EQ(status.num_kv_blocks_used, 0);
}

TEST(EngineLoop, ConcurrentRequestsMatchTheSameRequestsAlone) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  std::vector<std::vector<int32_t>> alone;
  for (int r = 0; r < 8; ++r)
    alone.push_back(run_alone(engine, greedy_request(prompt_of(3 + 4 * r, r), 10)));
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int r = 0; r < 8; ++r) {
    sinks.push_back(std::make_shared<CollectingSink>());
    engine.submit(greedy_request(prompt_of(3 + 4 * r, r), 10), sinks.back());
  }
  for (int r = 0; r < 8; ++r) {
    ASSERT_TRUE(sinks[r]->wait());
    EXPECT_EQ(sinks[r]->tokens(), alone[r]) << "request " << r;
  }
}

TEST(EngineLoop, PreemptionGivesTheSameOutput) {
  // 12 blocks of 4 tokens cannot hold six 30-token sequences at once: the newest get preempted
  // and recomputed, and must still produce exactly what they produce alone.
  EngineOptions options = tiny_options(12, 1);
  options.scheduler.enable_prefix_caching = false;
  Engine engine(options);
  ASSERT_TRUE(engine.wait_ready(60s));
  std::vector<std::vector<int32_t>> alone;
  for (int r = 0; r < 6; ++r)
    alone.push_back(run_alone(engine, greedy_request(prompt_of(10, r), 20)));
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int r = 0; r < 6; ++r) {
    sinks.push_back(std::make_shared<CollectingSink>());
    engine.submit(greedy_request(prompt_of(10, r), 20), sinks.back());
  }
  for (int r = 0; r < 6; ++r) {
    ASSERT_TRUE(sinks[r]->wait());
    EXPECT_EQ(sinks[r]->tokens(), alone[r]) << "request " << r;
  }
  EXPECT_GT(engine.status().num_preemptions_total, 0u);
  EXPECT_EQ(engine.status().num_kv_blocks_used, 0);
}

TEST(EngineLoop, PrefixCacheHitGivesTheSameOutput) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  const auto first = run_alone(engine, greedy_request(prompt_of(21, 5), 8));
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(greedy_request(prompt_of(21, 5), 8), sink);
  ASSERT_TRUE(sink->wait());
  EXPECT_EQ(sink->tokens(), first);
  EXPECT_EQ(sink->usage().cached_prompt_tokens, 20);  // 5 full blocks of 4
  EXPECT_GE(engine.status().prefix_hit_tokens_total, 20u);
}

TEST(EngineLoop, CancelFreesTheBlocks) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  auto sink = std::make_shared<CollectingSink>();
  const RequestId id = engine.submit(greedy_request(prompt_of(40, 2), 200), sink);
  ASSERT_TRUE(sink->wait_for_tokens(2)) << "no tokens streamed";
  // The step that sent the first token has published its status: the request holds its
  // 40-token prompt's blocks, so a status that never counted blocks cannot pass below.
  EXPECT_GE(engine.status().num_kv_blocks_used, 10);
  EXPECT_EQ(engine.status().num_running, 1);
  engine.cancel(id);
  ASSERT_TRUE(sink->wait());
  EXPECT_EQ(sink->reason(), FinishReason::kCancelled);
  EXPECT_LT(sink->tokens().size(), 200u);
  // The engine publishes its status before it tells the sinks, so no polling here: the
  // blocks are back by the time the sink hears of the cancel.
  EXPECT_EQ(engine.status().num_kv_blocks_used, 0);
  EXPECT_EQ(engine.status().num_running, 0);
}

// Context switches (voluntary and not) of each thread of this process, by thread id.
std::map<pid_t, long> context_switches() {
  std::map<pid_t, long> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(task.path() / "status");
    long total = 0;
    for (std::string line; std::getline(status, line);) {
      std::istringstream fields(line);
      std::string key;
      long value = 0;
      if (fields >> key >> value &&
          (key == "voluntary_ctxt_switches:" || key == "nonvoluntary_ctxt_switches:"))
        total += value;
    }
    out[static_cast<pid_t>(std::stol(task.path().filename().string()))] = total;
  }
  return out;
}

// Idle means blocked: not stepping (num_steps) and not waking up either, which a loop that
// polls without stepping would do. Every thread but this one (the engine's and the runner's
// workers) is counted over an idle half second; a 10 ms poller run alongside shows that the
// count sees wake-ups.
TEST(EngineLoop, IdleEngineDoesNotStep) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  run_alone(engine, greedy_request(prompt_of(5, 1), 3));
  std::this_thread::sleep_for(200ms);  // the runner's workers spin briefly, then block
  const uint64_t steps = engine.status().num_steps;
  std::atomic<bool> stop_poller{false};
  std::atomic<pid_t> poller_tid{0};
  std::thread poller([&] {
    poller_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    while (!stop_poller)
      std::this_thread::sleep_for(10ms);
  });
  while (poller_tid == 0)
    std::this_thread::yield();
  const auto before = context_switches();
  std::this_thread::sleep_for(500ms);
  const auto after = context_switches();
  stop_poller = true;
  poller.join();

  EXPECT_EQ(engine.status().num_steps, steps);
  const auto self = static_cast<pid_t>(::syscall(SYS_gettid));
  long woken = 0;
  std::string report;
  for (const auto& [tid, count] : after) {
    const long delta = count - (before.contains(tid) ? before.at(tid) : 0);
    if (tid == poller_tid) {
      EXPECT_GE(delta, 20) << "the probe missed a thread that wakes every 10 ms";
    } else if (tid != self) {
      woken += delta;
      report += " " + std::to_string(tid) + ":" + std::to_string(delta);
    }
  }
  EXPECT_GE(after.size(), 3u);  // this thread, the poller and at least the engine's
  EXPECT_EQ(woken, 0) << "context switches of the idle engine's threads:" << report;
}

bool wait_for_state(Engine& engine, EngineState state, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (engine.status().state != state) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// /metrics exports the prefix-cache counts as counters since start: sleeping drops the
// scheduler and its cache, not the counts.
TEST(EngineLoop, PrefixCacheCountersSurviveSleepAndWake) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  run_alone(engine, greedy_request(prompt_of(21, 5), 4));
  run_alone(engine, greedy_request(prompt_of(21, 5), 4));  // 5 full blocks of 4 hit
  EXPECT_EQ(engine.status().prefix_query_tokens_total, 42u);
  EXPECT_EQ(engine.status().prefix_hit_tokens_total, 20u);
  engine.sleep(1);
  ASSERT_TRUE(wait_for_state(engine, EngineState::kSleeping));
  EXPECT_EQ(engine.status().prefix_query_tokens_total, 42u);
  // Woken by the request; the cache is empty now, so nothing more hits.
  run_alone(engine, greedy_request(prompt_of(21, 5), 4));
  EXPECT_EQ(engine.status().state, EngineState::kReady);
  EXPECT_EQ(engine.status().prefix_query_tokens_total, 63u);
  EXPECT_EQ(engine.status().prefix_hit_tokens_total, 20u);
}

TEST(EngineLoop, SleepAndWakeKeepTheOutput) {
  EngineOptions options = tiny_options();
  Engine engine(options);
  ASSERT_TRUE(engine.wait_ready(60s));
  const auto before = run_alone(engine, greedy_request(prompt_of(13, 3), 10));
  for (int level : {1, 2}) {
    engine.sleep(level);
    for (int i = 0; i < 100000 && engine.status().state != EngineState::kSleeping; ++i) {
      std::this_thread::yield();
    }
    ASSERT_EQ(engine.status().state, EngineState::kSleeping);
    EXPECT_EQ(engine.status().sleep_level, level);
    // A request wakes it.
    EXPECT_EQ(run_alone(engine, greedy_request(prompt_of(13, 3), 10)), before) << "level " << level;
    EXPECT_EQ(engine.status().state, EngineState::kReady);
  }
  engine.sleep(1);
  engine.wake();
  ASSERT_TRUE(engine.wait_ready(60s));
}

TEST(EngineLoop, IdleTimerPutsTheEngineToSleep) {
  EngineOptions options = tiny_options();
  options.idle_sleep_after = 100ms;
  Engine engine(options);
  ASSERT_TRUE(engine.wait_ready(60s));
  const auto before = run_alone(engine, greedy_request(prompt_of(6, 9), 4));
  for (int i = 0; i < 200 && engine.status().state != EngineState::kSleeping; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(engine.status().state, EngineState::kSleeping);
  EXPECT_EQ(run_alone(engine, greedy_request(prompt_of(6, 9), 4)), before);
}

// Collects what a state watcher hears; the test waits on it with a deadline.
class TransitionLog {
 public:
  void add(const EngineTransition& t) {
    std::lock_guard lock(mutex_);
    seen_.push_back(t);
    cv_.notify_all();
  }
  // Waits until `n` changes were heard; all of them.
  std::vector<EngineTransition> wait_for(size_t n, std::chrono::milliseconds timeout = 60s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return seen_.size() >= n; });
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<EngineTransition> seen_;
};

// Every state change reaches the watchers, in order, with its cause and durations; after
// unwatch_state nothing more does.
TEST(EngineLoop, StateWatchersHearEachChangeWithItsCause) {
  EngineOptions options = tiny_options();
  options.idle_sleep_after = 500ms;  // the test's own steps fit well inside it
  Engine engine(options);
  TransitionLog log;
  const int id = engine.watch_state([&](const EngineTransition& t) { log.add(t); });
  ASSERT_TRUE(engine.wait_ready(60s));
  run_alone(engine, greedy_request(prompt_of(5, 1), 2));  // loaded before or after watching

  auto seen = log.wait_for(1);  // ready, or straight to sleep by the idle timer
  size_t first_sleep = 0;
  while (first_sleep < seen.size() && seen[first_sleep].to != EngineState::kSleeping)
    ++first_sleep;
  seen = log.wait_for(first_sleep + 1);
  ASSERT_GT(seen.size(), first_sleep);
  const EngineTransition& slept = seen[first_sleep];
  EXPECT_EQ(slept.from, EngineState::kReady);
  EXPECT_EQ(slept.cause, "the idle timer");
  EXPECT_EQ(slept.sleep_level, 1);
  EXPECT_GE(slept.seconds_in_from, 0.49);  // idle since the request ended
  EXPECT_GE(slept.seconds_taken, 0.0);

  // A request while asleep wakes the engine: waking, then ready, both naming the request.
  auto sink = std::make_shared<CollectingSink>();
  const RequestId request = engine.submit(greedy_request(prompt_of(5, 1), 2), sink);
  ASSERT_TRUE(sink->wait());
  seen = log.wait_for(first_sleep + 3);
  ASSERT_GE(seen.size(), first_sleep + 3);
  const std::string cause = "request " + std::to_string(request) + " arrived";
  EXPECT_EQ(seen[first_sleep + 1].from, EngineState::kSleeping);
  EXPECT_EQ(seen[first_sleep + 1].to, EngineState::kWaking);
  EXPECT_EQ(seen[first_sleep + 1].cause, cause);
  EXPECT_GE(seen[first_sleep + 1].seconds_in_from, 0.0);
  EXPECT_EQ(seen[first_sleep + 2].from, EngineState::kWaking);
  EXPECT_EQ(seen[first_sleep + 2].to, EngineState::kReady);
  EXPECT_EQ(seen[first_sleep + 2].cause, cause);

  // A client's sleep, at level 2, names its caller.
  engine.sleep(2, "the test's Sleep");
  seen = log.wait_for(first_sleep + 4);
  ASSERT_GE(seen.size(), first_sleep + 4);
  EXPECT_EQ(seen[first_sleep + 3].to, EngineState::kSleeping);
  EXPECT_EQ(seen[first_sleep + 3].cause, "the test's Sleep");
  EXPECT_EQ(seen[first_sleep + 3].sleep_level, 2);

  engine.unwatch_state(id);
  engine.wake("the test's Wake");
  ASSERT_TRUE(wait_for_state(engine, EngineState::kReady));
  engine.stop("the test stops");
  ASSERT_TRUE(wait_for_state(engine, EngineState::kStopped));
  EXPECT_EQ(log.wait_for(first_sleep + 5, 100ms).size(), first_sleep + 4) << "heard after unwatch";
}

// Waking reads the checkpoint again: its progress starts from nothing the moment the state
// says "waking". The status at that moment (a watcher runs on the engine thread right after the
// change, before the read begins) once still held the last load's bytes, done = total, so a
// client polling the wake saw the bytes fall back to the headers' size.
TEST(EngineLoop, WakingStartsItsLoadProgressFromZero) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  const EngineStatus loaded = engine.status();
  ASSERT_GT(loaded.load_bytes_total, 0u);
  EXPECT_EQ(loaded.load_bytes_done, loaded.load_bytes_total);
  std::mutex mutex;
  std::optional<EngineStatus> at_waking;
  const int id = engine.watch_state([&](const EngineTransition& t) {
    if (t.to != EngineState::kWaking) return;
    const EngineStatus now = engine.status();
    std::lock_guard lock(mutex);
    at_waking = now;
  });
  engine.sleep(2);
  ASSERT_TRUE(wait_for_state(engine, EngineState::kSleeping));
  engine.wake();
  ASSERT_TRUE(wait_for_state(engine, EngineState::kReady));
  engine.unwatch_state(id);
  std::lock_guard lock(mutex);
  ASSERT_TRUE(at_waking.has_value()) << "the wake was not heard";
  EXPECT_EQ(at_waking->state, EngineState::kWaking);
  EXPECT_EQ(at_waking->load_bytes_done, 0u) << "the last load's bytes, shown as this one's";
  EXPECT_EQ(at_waking->load_bytes_total, 0u);
  EXPECT_EQ(at_waking->load_progress, 0.0);
  const EngineStatus woken = engine.status();
  EXPECT_EQ(woken.load_bytes_done, loaded.load_bytes_total);
  EXPECT_EQ(woken.load_bytes_total, loaded.load_bytes_total);
}

TEST(EngineLoop, SeededSamplingIgnoresTheRestOfTheBatch) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  EngineRequest seeded = greedy_request(prompt_of(7, 4), 16);
  seeded.params.temperature = 1.0f;
  seeded.params.seed = 42;
  const auto alone = run_alone(engine, seeded);
  std::vector<std::shared_ptr<CollectingSink>> others;
  for (int r = 0; r < 4; ++r) {
    others.push_back(std::make_shared<CollectingSink>());
    EngineRequest other = greedy_request(prompt_of(5 + r, 10 + r), 16);
    other.params.temperature = 1.0f;
    engine.submit(other, others.back());
  }
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(seeded, sink);
  ASSERT_TRUE(sink->wait());
  EXPECT_EQ(sink->tokens(), alone);
  for (auto& other : others)
    ASSERT_TRUE(other->wait());
}

TEST(EngineLoop, StopTokensAndEos) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  const auto free_run = run_alone(engine, greedy_request(prompt_of(8, 6), 10));
  ASSERT_EQ(free_run.size(), 10u);
  EngineRequest stop = greedy_request(prompt_of(8, 6), 10);
  stop.params.stop_token_ids = {free_run[3]};
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(stop, sink);
  ASSERT_TRUE(sink->wait());
  EXPECT_EQ(sink->reason(), FinishReason::kStop);
  const auto stopped = sink->tokens();
  const auto first_stop =
      std::find(free_run.begin(), free_run.end(), free_run[3]) - free_run.begin();
  EXPECT_EQ(stopped.size(), static_cast<size_t>(first_stop + 1));  // the stop token is included
}

TEST(EngineLoop, BadRequestsFailAloneWithAMessage) {
  Engine engine(tiny_options());
  ASSERT_TRUE(engine.wait_ready(60s));
  auto out_of_vocab = std::make_shared<CollectingSink>();
  engine.submit(greedy_request({1, 2, 999}, 4), out_of_vocab);
  auto too_long = std::make_shared<CollectingSink>();
  engine.submit(greedy_request(std::vector<int32_t>(300, 5), 4), too_long);
  auto good = std::make_shared<CollectingSink>();
  engine.submit(greedy_request({1, 2, 3}, 4), good);
  ASSERT_TRUE(out_of_vocab->wait());
  ASSERT_TRUE(too_long->wait());
  ASSERT_TRUE(good->wait());
  EXPECT_EQ(out_of_vocab->reason(), FinishReason::kError);
  EXPECT_NE(out_of_vocab->message().find("prompt token 2 is id 999"), std::string::npos)
      << out_of_vocab->message();
  EXPECT_EQ(too_long->reason(), FinishReason::kError);
  EXPECT_NE(too_long->message().find("max_model_len (256)"), std::string::npos)
      << too_long->message();
  EXPECT_EQ(good->reason(), FinishReason::kLength);
  EXPECT_EQ(good->tokens().size(), 4u);
}

TEST(EngineLoop, MissingModelFailsRequestsNotTheProcess) {
  EngineOptions options = tiny_options();
  options.model = "/nonexistent/model";
  Engine engine(options);
  EXPECT_FALSE(engine.wait_ready(60s));
  EXPECT_EQ(engine.status().state, EngineState::kFailed);
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(greedy_request({1, 2}, 2), sink);
  ASSERT_TRUE(sink->wait());
  EXPECT_EQ(sink->reason(), FinishReason::kError);
  EXPECT_NE(sink->message().find("/nonexistent/model"), std::string::npos) << sink->message();
}

TEST(EngineLoop, StopEndsInFlightRequests) {
  auto sink = std::make_shared<CollectingSink>();
  {
    Engine engine(tiny_options());
    ASSERT_TRUE(engine.wait_ready(60s));
    engine.submit(greedy_request(prompt_of(10, 1), 250), sink);
    ASSERT_TRUE(sink->wait_for_tokens(1));
    engine.stop("shutting down for the test");
  }
  ASSERT_TRUE(sink->wait(1s));
  EXPECT_EQ(sink->reason(), FinishReason::kCancelled);
  EXPECT_EQ(sink->message(), "shutting down for the test");
}

}  // namespace
}  // namespace mm

#include "daemon/engine/generation_defaults.h"

namespace mm {
namespace {

TEST(GenerationDefaults, ModelConfigThenOverride) {
  // MiniMax-M2.7's generation_config.json, then a --override-generation-config.
  const GenerationConfig model = parse_generation_config(
      R"({"do_sample": true, "temperature": 1.0, "top_p": 0.95, "top_k": 40,
          "eos_token_id": 200020})",
      "generation_config.json");
  const GenerationConfig override_config =
      parse_generation_config(R"({"temperature": 0.6, "max_new_tokens": 512})", "--override");
  const SamplingParams p =
      default_sampling_params(merge_generation_configs(model, override_config));
  EXPECT_FLOAT_EQ(p.temperature, 0.6f);
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_EQ(p.max_tokens, 512);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.0f);
  const SamplingParams greedy = default_sampling_params(
      parse_generation_config(R"({"do_sample": false, "temperature": 0.7})", "g.json"));
  EXPECT_FLOAT_EQ(greedy.temperature, 0.0f);
}

}  // namespace
}  // namespace mm

namespace mm {
namespace {

TEST(EngineLoop, KvPoolGrowsOnDemandAndGivesChunksBackWhenIdle) {
  // Chunks of 4 blocks (16 tokens): a 40-token request grows the pool to 3 chunks; after
  // kv_release_after without work it is back to one.
  EngineOptions options = tiny_options(4, 16);
  options.kv_release_after = std::chrono::milliseconds(50);
  Engine engine(options);
  ASSERT_TRUE(engine.wait_ready(std::chrono::seconds(60)));
  EXPECT_EQ(engine.status().num_kv_blocks_allocated, 4);
  auto sink = std::make_shared<CollectingSink>();
  engine.submit(greedy_request(prompt_of(36, 8), 4), sink);
  ASSERT_TRUE(sink->wait());
  EXPECT_GE(engine.status().num_kv_blocks_allocated, 12);
  int allocated = 0;
  for (int i = 0; i < 500; ++i) {
    allocated = engine.status().num_kv_blocks_allocated;
    if (allocated == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(allocated, 4);
  // The pool grows again when needed, and the output is unchanged.
  auto again = std::make_shared<CollectingSink>();
  engine.submit(greedy_request(prompt_of(36, 8), 4), again);
  ASSERT_TRUE(again->wait());
  EXPECT_EQ(again->tokens(), sink->tokens());
}

// Issue 15: sleep level 2 drops every *.safetensors of the folder from the page cache; a FIFO
// with that name used to block the engine thread in open() for good.
TEST(EngineLoop, SleepLevel2SkipsAFifoInTheCheckpointFolder) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("mmd-engine-fifo-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(MMD_FIXTURE_DIR) + "/tiny-bf16")) {
    std::filesystem::create_symlink(entry.path(), dir / entry.path().filename());
  }
  const std::filesystem::path fifo = dir / "stray.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EngineOptions options = tiny_options();
  options.model = dir.string();
  {
    Engine engine(options);
    ASSERT_TRUE(engine.wait_ready(60s)) << engine.status().error;
    engine.sleep(2);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (engine.status().state != EngineState::kSleeping &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    const bool slept = engine.status().state == EngineState::kSleeping;
    // Releases an engine thread blocked on the FIFO, so that a failure does not hang here.
    const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    EXPECT_TRUE(slept) << "the engine did not reach sleep level 2 within 10 s";
    // A request wakes it and gets its answer.
    EXPECT_EQ(run_alone(engine, greedy_request(prompt_of(13, 3), 4)).size(), 4u);
    if (writer >= 0) ::close(writer);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mm
