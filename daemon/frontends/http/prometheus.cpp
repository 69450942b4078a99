#include "daemon/frontends/http/prometheus.h"

#include <charconv>
#include <utility>
#include <vector>

namespace mm::http {
namespace {

// Shortest text that reads back as the same double ("0.005", not "0.0050000000000000001").
std::string number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

class Writer {
 public:
  explicit Writer(const std::string& model) : labels_("model_name=\"" + escape(model) + "\"") {}

  void metric(const char* name, const char* type, const char* help, double value) {
    declare(name, type, help);
    out_ += std::string(name) + "{" + labels_ + "} " + number(value) + "\n";
  }
  void histogram(const char* name, const char* help, const LatencyHistogram& h) {
    declare(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      const std::string le =
          i < LatencyHistogram::kBounds.size() ? number(LatencyHistogram::kBounds[i]) : "+Inf";
      out_ += std::string(name) + "_bucket{" + labels_ + ",le=\"" + le + "\"} " +
              std::to_string(cumulative) + "\n";
    }
    out_ += std::string(name) + "_sum{" + labels_ + "} " + number(h.sum) + "\n";
    out_ += std::string(name) + "_count{" + labels_ + "} " + std::to_string(h.count) + "\n";
  }
  // An info metric: value 1, the facts in its labels (as vLLM's cache_config_info).
  void info(const char* name, const char* help,
            const std::vector<std::pair<std::string, std::string>>& labels, bool declared) {
    if (!declared) declare(name, "gauge", help);
    out_ += std::string(name) + "{" + labels_;
    for (const auto& [label, value] : labels)
      out_ += "," + label + "=\"" + escape(value) + "\"";
    out_ += "} 1\n";
  }
  // One series of a metric with an extra label (declared once, before the first series).
  void labelled(const char* name, const char* type, const char* help, const std::string& label,
                const std::string& value, double number_value, bool declared) {
    if (!declared) declare(name, type, help);
    out_ += std::string(name) + "{" + labels_ + "," + label + "=\"" + escape(value) + "\"} " +
            number(number_value) + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string escape(const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    return out;
  }
  void declare(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  std::string labels_;
  std::string out_;
};

}  // namespace

std::string prometheus_text(const EngineStatus& s, const std::string& model_name) {
  Writer w(model_name);
  w.metric("mmd_num_requests_running", "gauge", "Requests in the running batch.", s.num_running);
  w.metric("mmd_num_requests_waiting", "gauge", "Requests waiting to be scheduled.", s.num_waiting);
  const double usage = s.num_kv_blocks_total > 0
                           ? static_cast<double>(s.num_kv_blocks_used) / s.num_kv_blocks_total
                           : 0.0;
  w.metric("mmd_kv_cache_usage_perc", "gauge", "Fraction of the KV cache blocks in use (1 = full).",
           usage);
  w.metric("mmd_kv_cache_blocks_allocated", "gauge",
           "KV cache blocks the pool holds now (it grows on demand and shrinks when idle).",
           s.num_kv_blocks_allocated);
  // A gauge: no "_total" suffix, which Prometheus reserves for counters.
  w.metric("mmd_kv_cache_blocks_capacity", "gauge", "KV cache blocks the pool may grow to.",
           s.num_kv_blocks_total);
  w.metric("mmd_prefix_cache_queries_total", "counter",
           "Prompt tokens looked up in the prefix cache, once per admission.",
           static_cast<double>(s.prefix_query_tokens_total));
  w.metric("mmd_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
           static_cast<double>(s.prefix_hit_tokens_total));
  w.metric("mmd_prefix_cache_hit_rate", "gauge", "Prefix cache hits / queries since start.",
           s.prefix_query_tokens_total > 0
               ? static_cast<double>(s.prefix_hit_tokens_total) / s.prefix_query_tokens_total
               : 0.0);
  w.metric("mmd_prompt_tokens_total", "counter", "Prefill tokens processed.",
           static_cast<double>(s.prompt_tokens_total));
  w.metric("mmd_generation_tokens_total", "counter", "Tokens generated.",
           static_cast<double>(s.generation_tokens_total));
  w.metric("mmd_num_preemptions_total", "counter", "Requests preempted for KV cache space.",
           static_cast<double>(s.num_preemptions_total));
  w.metric("mmd_request_success_total", "counter", "Requests finished.",
           static_cast<double>(s.requests_finished_total));
  w.histogram("mmd_time_to_first_token_seconds", "Time from arrival to the first token.",
              s.time_to_first_token);
  w.histogram("mmd_inter_token_latency_seconds", "Time between consecutive tokens of a request.",
              s.inter_token_latency);
  w.histogram("mmd_e2e_request_latency_seconds", "Time from arrival to the last token.",
              s.end_to_end_latency);
  // The KV tiers under the prefix cache, one series per tier (tier="host" or "disk").
  const auto tier_metric = [&](const char* name, const char* type, const char* help,
                               auto field) {
    for (size_t i = 0; i < s.kv_tiers.size(); ++i) {
      w.labelled(name, type, help, "tier", s.kv_tiers[i].name,
                 static_cast<double>(field(s.kv_tiers[i])), i > 0);
    }
  };
  tier_metric("mmd_kv_tier_blocks", "gauge", "KV blocks held in the tier.",
              [](const KvTierStats& t) { return t.num_blocks; });
  tier_metric("mmd_kv_tier_bytes", "gauge", "Bytes the tier's blocks take.",
              [](const KvTierStats& t) { return t.num_bytes; });
  tier_metric("mmd_kv_tier_budget_bytes", "gauge", "The tier's budget (0: off).",
              [](const KvTierStats& t) { return t.budget_bytes; });
  tier_metric("mmd_kv_tier_restores_total", "counter",
              "KV blocks copied back from the tier instead of recomputed.",
              [](const KvTierStats& t) { return t.hits_total; });
  tier_metric("mmd_kv_tier_stores_total", "counter", "KV blocks the tier kept.",
              [](const KvTierStats& t) { return t.stores_total; });
  tier_metric("mmd_kv_tier_evictions_total", "counter",
              "KV blocks dropped to hold the tier's budget.",
              [](const KvTierStats& t) { return t.evictions_total; });
  tier_metric("mmd_kv_tier_rejected_total", "counter",
              "Damaged, truncated or foreign cache files deleted unread.",
              [](const KvTierStats& t) { return t.rejected_total; });
  if (!s.kv_tiers.empty()) {
    w.metric("mmd_kv_tier_restored_tokens_total", "counter",
             "Prompt tokens copied back from the KV tiers instead of recomputed.",
             static_cast<double>(s.kv_tier_restored_tokens_total));
  }
  w.metric("mmd_sleep_level", "gauge", "0 awake, 1 or 2 asleep at that level.", s.sleep_level);
  w.metric("mmd_engine_ready", "gauge", "1 when the model is loaded and awake.",
           s.state == EngineState::kReady ? 1 : 0);
  std::string dtype_source;
  for (const SettingOrigin& setting : s.settings) {
    if (setting.name == "kv_cache_dtype") dtype_source = setting.source;
  }
  w.info("mmd_cache_config_info", "The KV cache's configuration (value 1; labels say it).",
         {{"cache_dtype", s.kv_cache_dtype},
          {"cache_dtype_source", dtype_source},
          {"block_size", std::to_string(s.kv_block_size)},
          {"num_blocks", std::to_string(s.num_kv_blocks_total)}},
         false);
  for (size_t i = 0; i < s.settings.size(); ++i) {
    const SettingOrigin& setting = s.settings[i];
    w.info("mmd_setting_info",
           "A setting the daemon resolved at start and where it came from: flag, config, "
           "checkpoint or default (value 1).",
           {{"name", setting.name}, {"value", setting.value}, {"source", setting.source}}, i > 0);
  }
  return w.take();
}

}  // namespace mm::http
