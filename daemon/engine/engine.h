// The engine: one step loop thread that owns the scheduler, the block pool, the model runner
// and every sequence. Frontends call submit / cancel / status / sleep / wake from any thread;
// those only queue work under a mutex and wake the loop. The loop blocks on a condition
// variable when there is nothing to do (no polling): an idle engine's step counter stays still.
// State changes are announced to watchers (watch_state), so nothing else polls the state either.
// After `idle_sleep_after` without work it sleeps (level 1: frees the KV cache and the
// repacked weights, keeps the checkpoint mapped; level 2: also unmaps it); the next request or
// wake() loads it again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/engine/batch_sampler.h"
#include "daemon/engine/block_pool.h"
#include "daemon/engine/engine_metrics.h"
#include "daemon/engine/kv_tier_stack.h"
#include "daemon/engine/rank_link.h"
#include "daemon/engine/request.h"
#include "daemon/engine/scheduler.h"
#include "daemon/model/model_runner.h"

namespace mm {

// One change of the engine's state, as state watchers hear of it.
struct EngineTransition {
  EngineState from = EngineState::kLoading;
  EngineState to = EngineState::kLoading;
  // Why: "the idle timer", "a Sleep call over D-Bus from :1.5", "request 7 arrived", the
  // stop reason; empty for the end of a load (kLoading or kWaking to kReady or kFailed).
  std::string cause;
  int sleep_level = 0;  // to kSleeping: the level
  // How long the engine was in `from` (kReady: since its last work), until this change.
  double seconds_in_from = 0.0;
  // The change's own work: unloading (to kSleeping) or loading (kLoading or kWaking to kReady
  // or kFailed).
  double seconds_taken = 0.0;
  std::string error;  // to kFailed: why
};
// Called on the engine thread right after a change; must not block (queue, write an eventfd,
// uv_async_send, log a line). It may call status(), not watch_state or unwatch_state.
using StateWatcher = std::function<void(const EngineTransition&)>;

struct EngineOptions {
  std::filesystem::path model;
  RunnerOptions runner;  // num_kv_blocks is set from `pool`
  SchedulerConfig scheduler;
  BlockPoolOptions pool;
  std::vector<int32_t> eos_token_ids;
  std::chrono::milliseconds idle_sleep_after{0};  // 0: never sleep by itself
  int idle_sleep_level = 1;
  // After this long without work, the KV pool gives back the chunks it grew by (their memory
  // returns to the system, their cached prefixes are forgotten).
  std::chrono::milliseconds kv_release_after{10000};
  // The KV tiers under the pool (kv_tier_stack.h); both budgets 0: none. Off with tensor
  // parallelism (each rank holds only its heads' KV).
  KvTierOptions kv_tiers;
  // Tensor parallelism: the group this engine (rank 0) leads; the other ranks run
  // follow_rank_zero() (rank_link.h). Null or one rank: no other ranks. Not owned.
  Communicator* comm = nullptr;
  // GPU ranks: the group's collectives on device memory (NCCL), used by the model runner while
  // `comm` (MPI) carries the step broadcasts. Null: the runner uses `comm`. Not owned.
  Communicator* collectives = nullptr;
  // The daemon's resolved settings and their sources; status() reports them, nothing else
  // reads them.
  std::vector<SettingOrigin> settings;
};

class Engine {
 public:
  // Starts the loop thread, which loads the model (state kLoading, then kReady or kFailed).
  explicit Engine(EngineOptions options);
  ~Engine();  // stop(), then joins
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Thread-safe. The sink receives the tokens and exactly one on_finish. Invalid requests
  // (empty prompt, too long, token id out of range) finish with kError and a message.
  RequestId submit(EngineRequest request, std::shared_ptr<RequestSink> sink);
  // Thread-safe; the request leaves the next step at once and its blocks return to the pool.
  void cancel(RequestId id);
  EngineStatus status() const;
  // Thread-safe. Sleep waits until no request is in flight; a request arriving while asleep
  // wakes the engine first. `cause` is what state watchers hear the change came from.
  void sleep(int level, std::string cause = "a client's Sleep request");
  void wake(std::string cause = "a client's Wake request");
  // Thread-safe: empties the KV tiers (host memory and disk files); the pool keeps its blocks.
  void clear_kv_cache(const std::string& cause = "a client's request");
  // Ends every request (kCancelled with `reason`) and stops the loop. Idempotent.
  void stop(const std::string& reason = "the engine is stopping");
  // Blocks until the model is loaded (or failed) or the deadline passes; true when ready.
  bool wait_ready(std::chrono::milliseconds timeout) const;
  // Thread-safe. `watcher` hears every state change from now on, until unwatch_state(id);
  // once that returns it is not running and is never called again. The state may have
  // changed before watch_state returned: read status() after it. Returns the id.
  int watch_state(StateWatcher watcher);
  void unwatch_state(int id);

 private:
  struct Active {
    RequestId id = 0;
    EngineRequest request;
    std::shared_ptr<RequestSink> sink;
    uint64_t seed = 0;
    int num_generated = 0;
    int cached_prompt_tokens = -1;
    std::vector<int32_t> output_token_ids;
    std::vector<uint32_t> allowed_mask;  // request.constraint's mask, reused each step
    // params.prompt_logprobs >= 0: prompt tokens 1.. scored so far, and whether the sink has
    // them (engine_scoring.cpp).
    std::vector<ScoredToken> prompt_scores;
    bool prompt_scores_sent = false;
    std::chrono::steady_clock::time_point arrival;
    std::chrono::steady_clock::time_point last_token;
  };
  struct Finish {
    std::shared_ptr<RequestSink> sink;
    RequestId id;
    FinishReason reason;
    Usage usage;
    std::string message;
  };

  void run();
  int initial_num_blocks() const {
    return options_.pool.initial_num_chunks * options_.pool.blocks_per_chunk;
  }
  bool load_model();  // engine thread; fills runner_, pool_, scheduler_
  // KV tiers (engine thread). Opens them once the runner is loaded (kept across sleep while the
  // model's fingerprint stays the same); throws KvTierError for an unusable folder.
  void open_kv_tiers();
  void keep_in_tier(BlockId block, const BlockHash& hash);  // the pool is forgetting it
  // tier_payload_ ↔ a KV block (every rank's share with tensor parallelism).
  void read_tier_block(BlockId block);
  bool write_tier_block(BlockId block);
  // Copies the step's planned restores into their blocks; a sequence whose restore fails
  // recomputes from there and leaves this step's batch.
  void restore_blocks(SchedulerOutput& out);
  // Sleep (level 1: host, overflowing to disk; level 2: disk) and stop (disk): the pool's
  // cached blocks go down a tier before its memory goes.
  void spill_pool_to_tiers(int level);
  void unload_model(int level);
  void admit_new(std::vector<Finish>& finishes);
  void apply_cancels(std::vector<Finish>& finishes);
  void step(std::vector<Finish>& finishes);
  // Prompt scoring (engine_scoring.cpp). A logits row of the step that scores a prompt token.
  struct ScoreRow {
    SeqId id = 0;
    int position = 0;  // its logits score the prompt token at position + 1
  };
  // Appends to batch.logits_indices, after the sampling rows, the prompt positions this step
  // computes that score a prompt token not yet scored; returns them in that order.
  std::vector<ScoreRow> add_score_rows(const SchedulerOutput& out, ForwardBatch& batch);
  // Scores those rows (`logits` from row `first_row` on) and hands each prompt whose scoring
  // is complete to its sink, before its first token.
  void deliver_prompt_scores(const SchedulerOutput& out, const std::vector<ScoreRow>& rows,
                             std::span<const float> logits, size_t first_row);
  // Requests with max_tokens 0 whose prompt is now computed end here (kLength, no token).
  void finish_prompt_only(const SchedulerOutput& out, std::vector<Finish>& finishes);
  void finish(Active& active, FinishReason reason, const std::string& message,
              std::vector<Finish>& finishes);
  // Engine thread: publishes the new state (status_, state_changed_), then tells the watchers.
  // `in_from_since`: when the old state began for the transition's seconds_in_from (default:
  // the last change).
  void change_state(EngineTransition transition,
                    std::optional<std::chrono::steady_clock::time_point> in_from_since = {});

  EngineOptions options_;

  // Shared with frontends, guarded by mutex_.
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_loop_;
  mutable std::condition_variable state_changed_;
  std::deque<std::pair<RequestId, std::pair<EngineRequest, std::shared_ptr<RequestSink>>>>
      incoming_;
  std::vector<RequestId> cancels_;
  std::optional<int> sleep_requested_;
  std::string sleep_cause_;
  bool wake_requested_ = false;
  bool clear_kv_requested_ = false;
  std::string wake_cause_;
  bool stopping_ = false;
  std::string stop_reason_;
  RequestId next_id_ = 1;
  EngineStatus status_;
  std::chrono::steady_clock::time_point state_since_ = std::chrono::steady_clock::now();

  // The state watchers; held while they run, so unwatch_state waits for a running one.
  std::mutex watchers_mutex_;
  std::vector<std::pair<int, StateWatcher>> watchers_;
  int next_watcher_id_ = 1;

  // Owned by the loop thread.
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<RankLeader> leader_;  // tensor parallelism: tells the other ranks each step
  std::unique_ptr<BlockPool> pool_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<BatchSampler> batch_sampler_;  // made at the first step
  std::unique_ptr<KvTierStack> kv_tiers_;        // survives sleep; null when off
  std::vector<std::byte> tier_payload_;          // one block's payload, reused
  std::unordered_map<RequestId, Active> active_;
  uint64_t seed_counter_ = 0;
  std::thread thread_;
};

}  // namespace mm
