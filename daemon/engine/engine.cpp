#include "daemon/engine/engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <utility>

#include "daemon/engine/kv_fingerprint.h"
#include "daemon/model/forward_batch.h"

namespace mm {

using Clock = std::chrono::steady_clock;

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "?";
}

const char* engine_state_name(EngineState state) {
  switch (state) {
    case EngineState::kLoading:
      return "loading";
    case EngineState::kReady:
      return "ready";
    case EngineState::kSleeping:
      return "sleeping";
    case EngineState::kWaking:
      return "waking";
    case EngineState::kStopped:
      return "stopped";
    case EngineState::kFailed:
      return "failed";
  }
  return "?";
}

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Asks the kernel to drop a checkpoint's files from the page cache (sleep level 2), so that
// waking really reads them again instead of finding a hidden host copy.
void drop_page_cache(const std::filesystem::path& folder) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    if (entry.path().extension() != ".safetensors") continue;
    // Regular files only, checked before and after open: a FIFO would block open() (and the
    // engine thread) until a writer came.
    std::error_code kind_error;
    if (!entry.is_regular_file(kind_error)) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      continue;
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(std::move(options)) {
  options_.runner.block_size = options_.pool.block_size;
  options_.runner.num_kv_blocks =
      static_cast<int64_t>(options_.pool.max_num_chunks) * options_.pool.blocks_per_chunk;
  status_.kv_cache_dtype = kv_cache_dtype_name(options_.runner.kv_dtype);
  status_.settings = options_.settings;
  std::random_device device;
  seed_counter_ = (static_cast<uint64_t>(device()) << 32) ^ device();
  if (options_.comm != nullptr && options_.comm->size() > 1)
    leader_ = std::make_unique<RankLeader>(*options_.comm);
  thread_ = std::thread([this] { run(); });
}

Engine::~Engine() {
  stop();
  if (thread_.joinable()) thread_.join();
}

RequestId Engine::submit(EngineRequest request, std::shared_ptr<RequestSink> sink) {
  std::lock_guard lock(mutex_);
  const RequestId id = next_id_++;
  incoming_.emplace_back(id, std::make_pair(std::move(request), std::move(sink)));
  wake_loop_.notify_one();
  return id;
}

void Engine::cancel(RequestId id) {
  std::lock_guard lock(mutex_);
  cancels_.push_back(id);
  wake_loop_.notify_one();
}

EngineStatus Engine::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void Engine::sleep(int level, std::string cause) {
  std::lock_guard lock(mutex_);
  sleep_requested_ = std::clamp(level, 1, 2);
  sleep_cause_ = std::move(cause);
  wake_loop_.notify_one();
}

void Engine::wake(std::string cause) {
  std::lock_guard lock(mutex_);
  wake_requested_ = true;
  wake_cause_ = std::move(cause);
  wake_loop_.notify_one();
}

void Engine::clear_kv_cache(const std::string& cause) {
  (void)cause;
  std::lock_guard lock(mutex_);
  clear_kv_requested_ = true;
  wake_loop_.notify_one();
}

void Engine::stop(const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  stopping_ = true;
  stop_reason_ = reason;
  wake_loop_.notify_one();
}

bool Engine::wait_ready(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  state_changed_.wait_for(lock, timeout, [this] {
    return status_.state != EngineState::kLoading && status_.state != EngineState::kWaking;
  });
  return status_.state == EngineState::kReady;
}

int Engine::watch_state(StateWatcher watcher) {
  std::lock_guard lock(watchers_mutex_);
  const int id = next_watcher_id_++;
  watchers_.emplace_back(id, std::move(watcher));
  return id;
}

void Engine::unwatch_state(int id) {
  std::lock_guard lock(watchers_mutex_);
  std::erase_if(watchers_, [id](const auto& entry) { return entry.first == id; });
}

void Engine::change_state(EngineTransition transition,
                          std::optional<Clock::time_point> in_from_since) {
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    transition.from = status_.state;
    transition.seconds_in_from = seconds_between(in_from_since.value_or(state_since_), now);
    if (transition.to == EngineState::kFailed) transition.error = status_.error;
    status_.state = transition.to;
    state_since_ = now;
    if (transition.to == EngineState::kLoading || transition.to == EngineState::kWaking) {
      // A new read starts from nothing: with the state, or a status between the two would show
      // the last load's bytes as this one's (done = total while waking, then falling back).
      status_.load_progress = 0.0;
      status_.load_bytes_done = 0;
      status_.load_bytes_total = 0;
    }
  }
  state_changed_.notify_all();
  std::lock_guard lock(watchers_mutex_);
  for (const auto& [id, watcher] : watchers_)
    watcher(transition);
}

bool Engine::load_model() {
  try {
    RunnerOptions runner_options = options_.runner;
    runner_options.on_load_progress = [this](const LoadProgress& progress) {
      std::lock_guard lock(mutex_);
      status_.load_progress = progress.fraction();
      status_.load_bytes_done = progress.bytes_done;
      status_.load_bytes_total = progress.bytes_total;
    };
    {
      std::lock_guard lock(mutex_);
      status_.load_progress = 0.0;
      status_.load_bytes_done = 0;
      status_.load_bytes_total = 0;
    }
    runner_options.comm = options_.collectives != nullptr ? options_.collectives : options_.comm;
    if (leader_) leader_->load(runner_options);
    runner_ = ModelRunner::load(options_.model, runner_options);
    try {
      open_kv_tiers();
    } catch (...) {
      runner_.reset();  // a failed load holds no model
      throw;
    }
    pool_ = std::make_unique<BlockPool>(options_.pool);
    scheduler_ = std::make_unique<Scheduler>(options_.scheduler, *pool_);
    if (kv_tiers_) {
      pool_->set_evict_listener(
          [this](BlockId block, const BlockHash& hash) { keep_in_tier(block, hash); });
      scheduler_->set_lower_tier(kv_tiers_.get());
    }
    return true;
  } catch (const std::exception& error) {
    std::lock_guard lock(mutex_);
    status_.error = error.what();
    return false;
  }
}

void Engine::open_kv_tiers() {
  const KvTierOptions& tiers = options_.kv_tiers;
  if (tiers.host_budget_bytes == 0 && tiers.disk_budget_bytes == 0) return;
  // With tensor parallelism a tier block is every rank's share in rank order (RankLeader);
  // the shares travel as floats.
  const uint64_t share_bytes = runner_->kv_cache().block_payload_bytes();
  const uint64_t num_ranks = leader_ ? static_cast<uint64_t>(options_.comm->size()) : 1;
  if (leader_ && share_bytes % sizeof(float) != 0) return;
  const BlockHash fingerprint = kv_model_fingerprint(options_.model, *runner_);
  if (!kv_tiers_ || !(kv_tiers_->fingerprint() == fingerprint)) {
    kv_tiers_.reset();  // another model's blocks are never kept (its disk files are deleted)
    kv_tiers_ = std::make_unique<KvTierStack>(tiers, fingerprint, share_bytes * num_ranks);
  }
  tier_payload_.resize(kv_tiers_->payload_bytes());
  // The chain hashes start from the fingerprint, so a tier's key names the model too.
  options_.scheduler.cache_salt = fingerprint.hi ^ fingerprint.lo;
}

void Engine::read_tier_block(BlockId block) {
  if (leader_) {
    leader_->read_block(block, runner_->kv_cache(), tier_payload_);
  } else {
    runner_->kv_cache().read_block(block, tier_payload_);
  }
}

bool Engine::write_tier_block(BlockId block) {
  const size_t share_bytes = runner_->kv_cache().block_payload_bytes();
  if (tier_payload_.size() != share_bytes * (leader_ ? options_.comm->size() : 1)) return false;
  if (!runner_->kv_cache().write_block(block, std::span(tier_payload_).first(share_bytes)))
    return false;  // checked on rank 0 (same shape and scales everywhere) before the others
  if (leader_) leader_->write_block(block, tier_payload_);
  return true;
}

void Engine::keep_in_tier(BlockId block, const BlockHash& hash) {
  read_tier_block(block);
  kv_tiers_->put(hash, tier_payload_);
}

void Engine::restore_blocks(SchedulerOutput& out) {
  if (out.restores.empty()) return;
  const auto started = Clock::now();
  std::unordered_map<SeqId, int> failed;  // sequence -> first block it must recompute
  uint64_t restored = 0;
  for (const BlockRestore& r : out.restores) {
    if (failed.contains(r.seq)) continue;
    if (kv_tiers_ && kv_tiers_->get(r.hash, tier_payload_) && write_tier_block(r.block)) {
      ++restored;
      continue;
    }
    failed.emplace(r.seq, r.block_index);
  }
  for (const auto& [seq, index] : failed)
    scheduler_->restore_failed(seq, index);
  std::erase_if(out.scheduled, [&](const ScheduledSeq& s) { return failed.contains(s.id); });
  std::lock_guard lock(mutex_);
  status_.kv_tier_restored_tokens_total += restored * static_cast<uint64_t>(pool_->block_size());
  status_.kv_tier_restore_failures_total += failed.size();
  status_.kv_tier_restore_seconds_total += seconds_between(started, Clock::now());
}

void Engine::spill_pool_to_tiers(int level) {
  if (!kv_tiers_) return;
  if (pool_ && runner_) {
    for (const auto& [block, hash] : pool_->cached_blocks()) {
      read_tier_block(block);
      if (level >= 2) {
        kv_tiers_->put_disk(hash, tier_payload_);
      } else {
        kv_tiers_->put(hash, tier_payload_);
      }
    }
  }
  if (level >= 2) kv_tiers_->spill_host_to_disk();  // host memory goes too
}

void Engine::unload_model(int level) {
  spill_pool_to_tiers(level);
  // Only between requests: every block is free, so the prefix cache goes with the memory.
  scheduler_.reset();
  pool_.reset();
  runner_.reset();
  if (leader_) leader_->unload();
  if (level >= 2) drop_page_cache(options_.model);
}

void Engine::finish(Active& active, FinishReason reason, const std::string& message,
                    std::vector<Finish>& finishes) {
  Usage usage;
  usage.prompt_tokens = static_cast<int>(active.request.prompt_token_ids.size());
  usage.completion_tokens = active.num_generated;
  usage.cached_prompt_tokens = std::max(active.cached_prompt_tokens, 0);
  if (reason != FinishReason::kError && active.num_generated > 0) {
    std::lock_guard lock(mutex_);
    status_.end_to_end_latency.observe(seconds_between(active.arrival, Clock::now()));
  }
  finishes.push_back(Finish{active.sink, active.id, reason, usage, message});
  if (scheduler_) scheduler_->remove(active.id);
  active_.erase(active.id);
}

void Engine::admit_new(std::vector<Finish>& finishes) {
  std::deque<std::pair<RequestId, std::pair<EngineRequest, std::shared_ptr<RequestSink>>>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(incoming_);
  }
  for (auto& [id, payload] : batch) {
    Active active;
    active.id = id;
    active.request = std::move(payload.first);
    active.sink = std::move(payload.second);
    active.arrival = Clock::now();
    active.seed = active.request.params.seed.value_or(seed_counter_++);
    Active& slot = active_.emplace(id, std::move(active)).first->second;

    std::string problem;
    const SamplingParams& params = slot.request.params;
    const int64_t vocab = runner_ ? runner_->config().vocab_size : 0;
    if (!runner_) {
      std::lock_guard lock(mutex_);
      problem = "the model is not loaded: " + status_.error;
    } else if (params.max_tokens < (params.prompt_logprobs >= 0 ? 0 : 1)) {
      problem = "max_tokens must be at least 1 (0 only with prompt_logprobs)";
    } else if (params.prompt_logprobs > vocab) {
      problem = "prompt_logprobs asks for " + std::to_string(params.prompt_logprobs) +
                " alternatives, more than the vocabulary's " + std::to_string(vocab);
    } else if (params.temperature < 0.0f || params.top_p <= 0.0f || params.top_p > 1.0f ||
               params.min_p < 0.0f || params.min_p > 1.0f || params.repetition_penalty <= 0.0f) {
      problem =
          "sampling parameters out of range (temperature >= 0, 0 < top_p <= 1, "
          "0 <= min_p <= 1, repetition_penalty > 0)";
    } else if (auto bad =
                   std::find_if(params.allowed_token_ids.begin(), params.allowed_token_ids.end(),
                                [&](int32_t token) { return token < 0 || token >= vocab; });
               bad != params.allowed_token_ids.end()) {
      // The frontends refuse these first (fit_request_to_model); a masked-out vocabulary
      // would sample garbage.
      problem = "allowed_token_ids holds id " + std::to_string(*bad) +
                ", outside the vocabulary [0, " + std::to_string(vocab) + ")";
    } else {
      const auto& prompt = slot.request.prompt_token_ids;
      for (size_t i = 0; i < prompt.size(); ++i) {
        if (prompt[i] < 0 || prompt[i] >= vocab) {
          problem = "prompt token " + std::to_string(i) + " is id " + std::to_string(prompt[i]) +
                    ", outside the vocabulary [0, " + std::to_string(vocab) + ")";
          break;
        }
      }
    }
    if (problem.empty()) {
      const auto& prompt = slot.request.prompt_token_ids;
      const int max_num_tokens = static_cast<int>(
          std::min<int64_t>(static_cast<int64_t>(prompt.size()) + params.max_tokens, INT32_MAX));
      // A scoring request computes every prompt position: it does not read the prefix cache.
      if (auto error = scheduler_->add(id, prompt, max_num_tokens, slot.request.priority,
                                       params.prompt_logprobs < 0)) {
        problem = error->message;
      }
    }
    if (!problem.empty()) finish(slot, FinishReason::kError, problem, finishes);
  }
}

void Engine::apply_cancels(std::vector<Finish>& finishes) {
  std::vector<RequestId> cancels;
  {
    std::lock_guard lock(mutex_);
    cancels.swap(cancels_);
  }
  for (RequestId id : cancels) {
    auto it = active_.find(id);
    if (it != active_.end()) finish(it->second, FinishReason::kCancelled, "cancelled", finishes);
  }
}

void Engine::step(std::vector<Finish>& finishes) {
  const int64_t queries_before = scheduler_->num_prefix_query_tokens();
  const int64_t hits_before = scheduler_->num_prefix_hit_tokens();
  SchedulerOutput out = scheduler_->schedule();
  restore_blocks(out);
  {
    // Added per step, not copied from the scheduler: sleep drops the scheduler with the pool,
    // and /metrics exports these as counters since start.
    std::lock_guard lock(mutex_);
    status_.prefix_query_tokens_total +=
        static_cast<uint64_t>(scheduler_->num_prefix_query_tokens() - queries_before);
    status_.prefix_hit_tokens_total +=
        static_cast<uint64_t>(scheduler_->num_prefix_hit_tokens() - hits_before);
  }
  if (out.scheduled.empty()) return;
  const int block_size = pool_->block_size();
  ForwardBatch batch;
  std::vector<SeqId> logit_seqs;
  for (const ScheduledSeq& s : out.scheduled) {
    const auto& tokens = scheduler_->token_ids(s.id);
    const auto& table = scheduler_->block_table(s.id);
    const auto seq_index = static_cast<int32_t>(batch.block_tables.size());
    batch.block_tables.emplace_back(table.begin(), table.end());
    for (int i = 0; i < s.num_tokens; ++i) {
      const int position = s.start_position + i;
      batch.token_ids.push_back(tokens[static_cast<size_t>(position)]);
      batch.positions.push_back(position);
      batch.seq_of_token.push_back(seq_index);
      batch.slot_mapping.push_back(static_cast<int64_t>(table[position / block_size]) * block_size +
                                   position % block_size);
    }
    if (s.wants_logits && active_.at(s.id).request.params.max_tokens > 0) {
      batch.logits_indices.push_back(static_cast<int32_t>(batch.token_ids.size()) - 1);
      logit_seqs.push_back(s.id);
    }
    Active& active = active_.at(s.id);
    if (active.cached_prompt_tokens < 0) active.cached_prompt_tokens = s.start_position;
  }

  // Prompt scoring rows come after the sampling rows: row j < logit_seqs.size() stays seq j's.
  const std::vector<ScoreRow> score_rows = add_score_rows(out, batch);

  std::span<float> logits;  // the runner's, until the next forward
  try {
    if (leader_) leader_->forward(batch);
    logits = runner_->forward_in_place(batch);
  } catch (const std::exception& error) {
    // A batch the runner refuses fails its requests, not the engine.
    for (const ScheduledSeq& s : out.scheduled) {
      auto it = active_.find(s.id);
      if (it != active_.end()) {
        finish(it->second, FinishReason::kError, std::string("forward failed: ") + error.what(),
               finishes);
      }
    }
    return;
  }
  deliver_prompt_scores(out, score_rows, logits, logit_seqs.size());

  const auto vocab = static_cast<size_t>(runner_->config().vocab_size);
  // The step's sequences are sampled together on the batch sampler's threads; each token
  // depends only on its own row and request, so the results are those of serial order.
  std::vector<SampleJob> jobs(logit_seqs.size());
  for (size_t j = 0; j < logit_seqs.size(); ++j) {
    Active& active = active_.at(logit_seqs[j]);
    SamplerContext context{active.request.prompt_token_ids, active.output_token_ids,
                           options_.eos_token_ids, active.seed};
    if (active.request.constraint) {  // structured output: the grammar's mask for this step
      active.allowed_mask.resize((vocab + 31) / 32);
      active.request.constraint->fill_allowed(active.allowed_mask);
      context.allowed_token_bitmask = active.allowed_mask;
      // The grammar allows the end exactly where the answer may end; min_tokens and ignore_eos
      // must not mask it there (nothing else would be left).
      context.eos_token_ids = {};
    }
    jobs[j] = {logits.subspan(j * vocab, vocab), &active.request.params, context};
  }
  std::vector<SampleResult> step_results(jobs.size());
  // As many threads as the CPU backend may use (--threads; 0: one per CPU, at most 8).
  if (!batch_sampler_) batch_sampler_ = std::make_unique<BatchSampler>(options_.runner.num_threads);
  batch_sampler_->sample(jobs, step_results);
  std::unordered_map<SeqId, int32_t> sampled;
  std::vector<std::pair<SeqId, SampleResult>> results;
  for (size_t j = 0; j < logit_seqs.size(); ++j) {
    sampled[logit_seqs[j]] = step_results[j].token_id;
    results.emplace_back(logit_seqs[j], std::move(step_results[j]));
  }
  scheduler_->step_done(out, sampled);

  const auto now = Clock::now();
  uint64_t prompt_tokens = 0;
  for (const ScheduledSeq& s : out.scheduled) {
    const Active& active = active_.at(s.id);
    const int prompt_len = static_cast<int>(active.request.prompt_token_ids.size());
    const int end = s.start_position + s.num_tokens;
    if (s.start_position < prompt_len)
      prompt_tokens += std::min(end, prompt_len) - s.start_position;
  }
  {
    std::lock_guard lock(mutex_);
    ++status_.num_steps;
    status_.num_preemptions_total += out.preempted.size();
    status_.prompt_tokens_total += prompt_tokens;
    status_.generation_tokens_total += results.size();
    for (const auto& [id, result] : results) {
      const Active& active = active_.at(id);
      if (active.num_generated == 0) {
        status_.time_to_first_token.observe(seconds_between(active.arrival, now));
      } else {
        status_.inter_token_latency.observe(seconds_between(active.last_token, now));
      }
    }
  }

  for (auto& [id, result] : results) {
    Active& active = active_.at(id);
    active.output_token_ids.push_back(result.token_id);
    ++active.num_generated;
    active.last_token = now;
    if (active.request.constraint && !active.request.constraint->advance(result.token_id)) {
      finish(active, FinishReason::kError,
             "the output constraint refused token " + std::to_string(result.token_id), finishes);
      continue;
    }
    active.sink->on_token(id, result);
    const SamplingParams& params = active.request.params;
    const bool is_eos = std::find(options_.eos_token_ids.begin(), options_.eos_token_ids.end(),
                                  result.token_id) != options_.eos_token_ids.end();
    const bool is_stop = std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(),
                                   result.token_id) != params.stop_token_ids.end();
    const int total =
        static_cast<int>(active.request.prompt_token_ids.size()) + active.num_generated;
    // A constrained answer that is complete ends even under ignore_eos: nothing may follow.
    const bool complete = active.request.constraint && active.request.constraint->finished();
    if ((is_eos && !params.ignore_eos) || is_stop || complete) {
      finish(active, FinishReason::kStop, "", finishes);
    } else if (active.num_generated >= params.max_tokens ||
               total >= options_.scheduler.max_model_len) {
      finish(active, FinishReason::kLength, "", finishes);
    }
  }
  finish_prompt_only(out, finishes);
}

void Engine::run() {
  const auto load_started = Clock::now();
  const bool loaded = load_model();
  {
    std::lock_guard lock(mutex_);
    status_.num_kv_blocks_total = options_.pool.max_num_chunks * options_.pool.blocks_per_chunk;
    status_.kv_block_size = options_.pool.block_size;
    status_.num_kv_blocks_allocated = pool_ ? pool_->num_blocks() : 0;
  }
  change_state({.to = loaded ? EngineState::kReady : EngineState::kFailed,
                .seconds_taken = seconds_between(load_started, Clock::now())});
  Clock::time_point idle_since = Clock::now();

  for (;;) {
    std::vector<Finish> finishes;
    bool stopping = false;
    bool wake = false;
    std::optional<int> sleep;
    std::string wake_cause;
    std::string sleep_cause;
    bool release_kv = false;
    bool clear_kv = false;
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        const bool busy = scheduler_ && scheduler_->has_work();
        if (stopping_ || busy || !incoming_.empty() || !cancels_.empty() || wake_requested_ ||
            (sleep_requested_ && status_.state == EngineState::kReady) || release_kv ||
            clear_kv_requested_) {
          break;
        }
        // Idle: block until something arrives, or until the next idle deadline: giving back
        // the KV pool's grown chunks, or sleeping.
        const bool ready = status_.state == EngineState::kReady;
        const bool sleep_timer = ready && options_.idle_sleep_after.count() > 0;
        const bool release_timer = ready && pool_ && pool_->num_blocks() > initial_num_blocks();
        if (!sleep_timer && !release_timer) {
          wake_loop_.wait(lock);
          continue;
        }
        const auto release_at = idle_since + options_.kv_release_after;
        const auto sleep_at = idle_since + options_.idle_sleep_after;
        const auto deadline = !sleep_timer     ? release_at
                              : !release_timer ? sleep_at
                                               : std::min(release_at, sleep_at);
        if (wake_loop_.wait_until(lock, deadline) == std::cv_status::timeout && incoming_.empty() &&
            cancels_.empty() && !stopping_) {
          const auto now = Clock::now();
          if (release_timer && now >= release_at) release_kv = true;
          if (sleep_timer && now >= sleep_at) {
            sleep_requested_ = options_.idle_sleep_level;
            sleep_cause_ = "the idle timer";
          }
        }
      }
      stopping = stopping_;
      if (wake_requested_) {
        wake = true;
        wake_requested_ = false;
        wake_cause = std::exchange(wake_cause_, {});
      } else if (!incoming_.empty() && status_.state == EngineState::kSleeping) {
        wake = true;
        wake_cause = "request " + std::to_string(incoming_.front().first) + " arrived";
      }
      clear_kv = std::exchange(clear_kv_requested_, false);
      if (active_.empty() && incoming_.empty()) {
        sleep = std::exchange(sleep_requested_, std::nullopt);
        if (sleep) sleep_cause = std::exchange(sleep_cause_, {});
      }
    }

    if (stopping) {
      std::string reason;
      {
        std::lock_guard lock(mutex_);
        reason = stop_reason_;
      }
      admit_new(finishes);
      std::vector<RequestId> ids;
      for (const auto& [id, active] : active_)
        ids.push_back(id);
      for (RequestId id : ids)
        finish(active_.at(id), FinishReason::kCancelled, reason, finishes);
      for (Finish& f : finishes)
        f.sink->on_finish(f.id, f.reason, f.usage, f.message);
      if (kv_tiers_) {
        // A restart finds the prefixes on disk; the writes finish before the engine stops.
        spill_pool_to_tiers(2);
        kv_tiers_->flush_disk();
      }
      change_state({.to = EngineState::kStopped, .cause = reason});
      if (leader_) leader_->stop();  // the other ranks exit too
      return;
    }

    EngineState state;
    {
      std::lock_guard lock(mutex_);
      state = status_.state;
    }
    if (wake && state == EngineState::kSleeping) {
      change_state({.to = EngineState::kWaking, .cause = wake_cause});
      const auto wake_started = Clock::now();
      const bool ok = load_model();
      {
        std::lock_guard lock(mutex_);
        status_.sleep_level = 0;
      }
      change_state({.to = ok ? EngineState::kReady : EngineState::kFailed,
                    .cause = wake_cause,
                    .seconds_taken = seconds_between(wake_started, Clock::now())});
      idle_since = Clock::now();
    }

    admit_new(finishes);
    apply_cancels(finishes);
    if (clear_kv) {
      // The pool's own cached prefixes go too: after a clear no prompt finds a cached block.
      if (pool_) pool_->forget_cached();
      if (kv_tiers_) kv_tiers_->clear();
    }
    if (release_kv && pool_ && !scheduler_->has_work()) {
      const int released = pool_->shrink();
      if (released > 0) {
        if (leader_) leader_->discard_kv(pool_->num_blocks(), released);
        runner_->kv_cache().discard_blocks(pool_->num_blocks(), released);
      }
    }
    if (sleep && active_.empty() && state == EngineState::kReady) {
      const auto unload_started = Clock::now();
      unload_model(*sleep);
      {
        std::lock_guard lock(mutex_);
        status_.sleep_level = *sleep;
      }
      // How long it was idle, not how long since it was last woken.
      change_state({.to = EngineState::kSleeping,
                    .cause = sleep_cause,
                    .sleep_level = *sleep,
                    .seconds_taken = seconds_between(unload_started, Clock::now())},
                   idle_since);
    }
    if (scheduler_ && scheduler_->has_work()) {
      step(finishes);
      idle_since = Clock::now();
    }
    // The status is published before the sinks hear of the finishes, so a client that saw its
    // request end also sees its blocks returned.
    {
      std::lock_guard lock(mutex_);
      status_.requests_finished_total += finishes.size();
      status_.num_running = scheduler_ ? scheduler_->num_running() : 0;
      status_.num_waiting = scheduler_ ? scheduler_->num_waiting() : 0;
      status_.num_kv_blocks_used = pool_ ? pool_->num_used_blocks() : 0;
      status_.num_kv_blocks_cached = pool_ ? pool_->num_cached_blocks() : 0;
      status_.num_kv_blocks_allocated = pool_ ? pool_->num_blocks() : 0;
      if (kv_tiers_) status_.kv_tiers = kv_tiers_->tier_stats();
    }
    for (Finish& f : finishes)
      f.sink->on_finish(f.id, f.reason, f.usage, f.message);
  }
}

}  // namespace mm
