// Counters and latency histograms of the engine, in the shape Prometheus exposes them.
// Written by the engine thread; read through snapshots under the engine's lock.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/engine/kv_tier.h"

namespace mm {

// Cumulative histogram over fixed bucket bounds (seconds).
struct LatencyHistogram {
  static constexpr std::array<double, 14> kBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                     0.5,   1.0,   2.5,  5.0,   10.0, 30.0, 60.0};
  std::array<uint64_t, kBounds.size() + 1> counts{};  // the last bucket is +Inf
  double sum = 0.0;
  uint64_t count = 0;

  void observe(double seconds) {
    size_t bucket = 0;
    while (bucket < kBounds.size() && seconds > kBounds[bucket])
      ++bucket;
    ++counts[bucket];
    sum += seconds;
    ++count;
  }
};

// A setting the daemon resolved at start, and where its value came from: "flag", "config"
// (the TOML file), "checkpoint" (config.json, chat_template.jinja, ...) or "default".
struct SettingOrigin {
  std::string name;  // the TOML key, e.g. "kv_cache_dtype"
  std::string value;
  std::string source;
};

enum class EngineState : uint8_t { kLoading, kReady, kSleeping, kWaking, kStopped, kFailed };

struct EngineStatus {
  EngineState state = EngineState::kLoading;
  int sleep_level = 0;
  double load_progress = 0.0;  // kLoading / kWaking: fraction of the layers repacked so far
  uint64_t load_bytes_done = 0;   // kLoading / kWaking: checkpoint bytes read so far
  uint64_t load_bytes_total = 0;  // the shards' total size (0 until the checkpoint is open)
  int num_running = 0;
  int num_waiting = 0;
  int num_kv_blocks_total = 0;      // the pool's cap
  int num_kv_blocks_allocated = 0;  // the chunks it holds now (grows on demand, shrinks idle)
  int num_kv_blocks_used = 0;
  int num_kv_blocks_cached = 0;
  int kv_block_size = 0;
  std::string kv_cache_dtype;           // what the cache stores: float32, bfloat16 or fp8_e4m3
  std::vector<SettingOrigin> settings;  // fixed at start (EngineOptions::settings)
  uint64_t num_steps = 0;  // moves only while there is work: an idle engine does not poll
  uint64_t prompt_tokens_total = 0;
  uint64_t generation_tokens_total = 0;
  uint64_t prefix_query_tokens_total = 0;
  uint64_t prefix_hit_tokens_total = 0;
  uint64_t num_preemptions_total = 0;
  // The KV tiers under the pool (host, then disk; empty when off) and what came back from them.
  std::vector<KvTierStats> kv_tiers;
  uint64_t kv_tier_restored_tokens_total = 0;  // prompt tokens copied back, not recomputed
  uint64_t kv_tier_restore_failures_total = 0;  // planned restores that fell back to recompute
  double kv_tier_restore_seconds_total = 0.0;   // time spent copying them back
  uint64_t requests_finished_total = 0;
  LatencyHistogram time_to_first_token;
  LatencyHistogram inter_token_latency;
  LatencyHistogram end_to_end_latency;
  std::string error;  // kFailed: why the model could not load
};

const char* engine_state_name(EngineState state);

}  // namespace mm
