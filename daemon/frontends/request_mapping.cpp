#include "daemon/frontends/request_mapping.h"

#include <algorithm>
#include <iterator>

#include "daemon/text/error.h"

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

// JSON text from a Submit field, parsed; a syntax error names the field and the byte offset.
text::JsonValue parse_field(const std::string& json_text, const std::string& field) {
  try {
    return text::JsonValue::parse(json_text, field);
  } catch (const text::TextError& error) {
    throw text::ChatRequestError(field, std::string("is not valid JSON: ") + error.what());
  }
}

}  // namespace

text::ChatRequest to_chat_request(const ipc::Submit& submit) {
  text::ChatRequest request;
  if (submit.messages.empty()) throw text::ChatRequestError("messages", "must not be empty");
  static constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant", "tool"};
  for (size_t i = 0; i < submit.messages.size(); ++i) {
    const ipc::ChatMessage& m = submit.messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    text::ChatMessage message;
    message.role = m.role == "developer" ? "system" : m.role;
    if (std::find(std::begin(kRoles), std::end(kRoles), m.role) == std::end(kRoles))
      throw text::ChatRequestError(
          at + ".role", "'" + m.role + "' is not one of system, developer, user, assistant, tool");
    message.content = m.content_json.empty()
                          ? text::JsonValue(m.content)
                          : text::chat_content_from_json(
                                parse_field(m.content_json, at + ".content_json"), at + ".content");
    // Over shm an empty string is "not set".
    if (!m.reasoning_content.empty()) message.reasoning_content = m.reasoning_content;
    if (!m.tool_calls_json.empty()) {
      if (message.role != "assistant")
        throw text::ChatRequestError(at + ".tool_calls", "is only allowed on assistant messages");
      message.tool_calls = text::chat_tool_calls_from_json(
          parse_field(m.tool_calls_json, at + ".tool_calls"), at + ".tool_calls");
    }
    if (!m.tool_call_id.empty() && message.role != "tool")
      throw text::ChatRequestError(at + ".tool_call_id", "is only allowed on tool messages");
    message.tool_call_id = m.tool_call_id;
    message.name = m.name;
    request.messages.push_back(std::move(message));
  }
  text::JsonArray tools;
  for (size_t i = 0; i < submit.tools_json.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    tools.push_back(parse_field(submit.tools_json[i], at));
  }
  request.tools = text::chat_tools_from_json(text::JsonValue(std::move(tools)));
  request.tool_choice = request.tools.empty() ? text::ToolChoice::kNone : text::ToolChoice::kAuto;
  const std::string& choice = submit.tool_choice;
  if (!choice.empty()) {
    // A mode by name, or a named function as JSON.
    const bool object = choice.find_first_not_of(" \t\r\n") != std::string::npos &&
                        choice[choice.find_first_not_of(" \t\r\n")] == '{';
    text::apply_tool_choice(object ? parse_field(choice, "tool_choice") : text::JsonValue(choice),
                            request);
  }
  request.add_generation_prompt = submit.add_generation_prompt;
  request.continue_final_message = submit.continue_final_message;
  if (!submit.chat_template_kwargs_json.empty())
    request.template_kwargs = text::chat_template_kwargs_from_json(
        parse_field(submit.chat_template_kwargs_json, "chat_template_kwargs"));
  text::check_chat_request(request);
  return request;
}

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
  r.kv_cache_dtype = s.kv_cache_dtype;
  for (const SettingOrigin& setting : s.settings)
    r.settings.push_back({setting.name, setting.value, setting.source});
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
