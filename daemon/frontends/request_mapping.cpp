#include "daemon/frontends/request_mapping.h"

namespace mm {

namespace {

ipc::Histogram to_histogram(const LatencyHistogram& h) {
  ipc::Histogram out;
  out.bounds.assign(LatencyHistogram::kBounds.begin(), LatencyHistogram::kBounds.end());
  out.counts.assign(h.counts.begin(), h.counts.end());
  out.sum = h.sum;
  out.count = h.count;
  return out;
}

}  // namespace

std::optional<std::string> to_sampling_params(const ipc::SamplingOptions& o,
                                              const SamplingParams& d, SamplingParams& p) {
  p = d;
  p.temperature = o.temperature.value_or(d.temperature);
  p.top_k = o.top_k.value_or(d.top_k);
  p.top_p = o.top_p.value_or(d.top_p);
  p.min_p = o.min_p.value_or(d.min_p);
  p.repetition_penalty = o.repetition_penalty.value_or(d.repetition_penalty);
  p.frequency_penalty = o.frequency_penalty;
  p.presence_penalty = o.presence_penalty;
  p.seed = o.seed;
  p.max_tokens = o.max_tokens.value_or(d.max_tokens);
  p.min_tokens = o.min_tokens;
  p.ignore_eos = o.ignore_eos;
  p.stop_token_ids = o.stop_token_ids;
  p.stop = o.stop;
  p.logprobs = o.logprobs;
  p.logit_bias.clear();
  for (const auto& [token, bias] : o.logit_bias)
    p.logit_bias[token] = bias;
  if (p.temperature < 0.0f) return "sampling.temperature must be >= 0";
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return "sampling.top_p must be in (0, 1]";
  if (p.min_p < 0.0f || p.min_p > 1.0f) return "sampling.min_p must be in [0, 1]";
  if (p.repetition_penalty <= 0.0f) return "sampling.repetition_penalty must be > 0";
  if (p.max_tokens < 1) return "sampling.max_tokens must be at least 1";
  if (p.min_tokens > p.max_tokens) return "sampling.min_tokens is larger than max_tokens";
  return std::nullopt;
}

ipc::StatusReply to_status_reply(const EngineStatus& s) {
  ipc::StatusReply r;
  r.state = engine_state_name(s.state);
  r.sleep_level = s.sleep_level;
  r.load_progress = s.load_progress;
  r.error = s.error;
  r.num_running = s.num_running;
  r.num_waiting = s.num_waiting;
  r.num_kv_blocks_total = s.num_kv_blocks_total;
  r.num_kv_blocks_used = s.num_kv_blocks_used;
  r.num_kv_blocks_cached = s.num_kv_blocks_cached;
  r.kv_block_size = s.kv_block_size;
  r.num_steps = s.num_steps;
  r.prompt_tokens_total = s.prompt_tokens_total;
  r.generation_tokens_total = s.generation_tokens_total;
  r.prefix_query_tokens_total = s.prefix_query_tokens_total;
  r.prefix_hit_tokens_total = s.prefix_hit_tokens_total;
  r.num_preemptions_total = s.num_preemptions_total;
  r.requests_finished_total = s.requests_finished_total;
  r.time_to_first_token = to_histogram(s.time_to_first_token);
  r.inter_token_latency = to_histogram(s.inter_token_latency);
  r.end_to_end_latency = to_histogram(s.end_to_end_latency);
  return r;
}

}  // namespace mm
