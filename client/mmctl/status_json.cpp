#include "client/mmctl/status_json.h"

namespace mm {

double histogram_mean(const ipc::Histogram& h) {
  return h.count == 0 ? 0.0 : h.sum / static_cast<double>(h.count);
}

namespace {
nlohmann::ordered_json histogram_json(const ipc::Histogram& h) {
  return {{"count", h.count}, {"sum_seconds", h.sum}, {"mean_seconds", histogram_mean(h)},
          {"bucket_bounds_seconds", h.bounds}, {"bucket_counts", h.counts}};
}
}  // namespace

nlohmann::ordered_json status_json(const ipc::StatusReply& s) {
  nlohmann::ordered_json out;
  out["model"] = s.model;
  out["state"] = s.state;
  out["sleep_level"] = s.sleep_level;
  if (!s.error.empty()) out["error"] = s.error;
  out["requests"] = {{"running", s.num_running},
                     {"waiting", s.num_waiting},
                     {"finished_total", s.requests_finished_total}};
  out["kv_cache"] = {{"blocks_total", s.num_kv_blocks_total},
                     {"blocks_used", s.num_kv_blocks_used},
                     {"blocks_cached", s.num_kv_blocks_cached},
                     {"block_size", s.kv_block_size},
                     {"dtype", s.kv_cache_dtype}};
  out["tokens"] = {{"prompt_total", s.prompt_tokens_total},
                   {"generation_total", s.generation_tokens_total},
                   {"prefix_query_total", s.prefix_query_tokens_total},
                   {"prefix_hit_total", s.prefix_hit_tokens_total}};
  out["num_preemptions_total"] = s.num_preemptions_total;
  nlohmann::ordered_json tiers = nlohmann::ordered_json::array();
  for (const ipc::KvTierStatus& tier : s.kv_tiers) {
    tiers.push_back({{"name", tier.name},
                     {"budget_bytes", tier.budget_bytes},
                     {"blocks", tier.num_blocks},
                     {"bytes", tier.num_bytes},
                     {"restored_blocks_total", tier.hits_total},
                     {"stored_blocks_total", tier.stores_total},
                     {"evicted_blocks_total", tier.evictions_total},
                     {"rejected_files_total", tier.rejected_total}});
  }
  out["kv_tiers"] = std::move(tiers);
  out["kv_tier_restored_tokens_total"] = s.kv_tier_restored_tokens_total;
  out["num_steps"] = s.num_steps;
  out["num_connections"] = s.num_connections;
  out["uptime_seconds"] = s.uptime_seconds;
  out["load_progress"] = s.load_progress;
  out["load_bytes_done"] = s.load_bytes_done;
  out["load_bytes_total"] = s.load_bytes_total;
  out["time_to_first_token"] = histogram_json(s.time_to_first_token);
  out["inter_token_latency"] = histogram_json(s.inter_token_latency);
  out["end_to_end_latency"] = histogram_json(s.end_to_end_latency);
  // Each setting the daemon resolved, with where it came from (flag, config, checkpoint or
  // default), in the daemon's order.
  nlohmann::ordered_json settings = nlohmann::ordered_json::object();
  for (const ipc::Setting& setting : s.settings)
    settings[setting.name] = {{"value", setting.value}, {"source", setting.source}};
  out["settings"] = std::move(settings);
  return out;
}

}  // namespace mm
