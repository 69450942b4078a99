#include "daemon/frontends/request_mapping.h"

#include <algorithm>
#include <charconv>
#include <cmath>
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
  for (size_t i = 0; i < submit.messages.size(); ++i) {
    const ipc::ChatMessage& m = submit.messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    text::ChatMessage message;
    message.role = text::chat_role_from(m.role, at + ".role");
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

namespace {

// The shortest text that reads back as `value` ("0.95", "3", "nan").
std::string number(double value) {
  if (std::isnan(value)) return "nan";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

RequestError bad(const std::string& field, const std::string& what) {
  return RequestError{field, "'" + field + "' " + what};
}

// vLLM's default --max-logprobs.
constexpr int kMaxLogprobs = 20;
constexpr size_t kMaxStopStrings = 256;
constexpr size_t kMaxStopStringBytes = 4096;
constexpr size_t kMaxStopTokenIds = 4096;

std::optional<RequestError> check_ids(const std::vector<int32_t>& ids, const std::string& field) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0)
      return bad(field, "must hold token ids (>= 0), got " + std::to_string(ids[i]) + " at [" +
                            std::to_string(i) + "]");
  }
  return std::nullopt;
}

}  // namespace

std::optional<RequestError> check_sampling_options(const ipc::SamplingOptions& o) {
  if (const auto& t = o.temperature) {
    if (!std::isfinite(*t)) return bad("temperature", "must be a finite number, got " + number(*t));
    if (*t < 0.0f || *t > 2.0f) return bad("temperature", "must be in [0, 2], got " + number(*t));
  }
  if (const auto& v = o.top_p; v && !(*v > 0.0f && *v <= 1.0f))
    return bad("top_p", "must be in (0, 1], got " + number(*v));
  if (const auto& v = o.top_k; v && *v < -1)
    return bad("top_k", "must be 0 (disable), or at least 1, got " + std::to_string(*v));
  if (const auto& v = o.min_p; v && !(*v >= 0.0f && *v <= 1.0f))
    return bad("min_p", "must be in [0, 1], got " + number(*v));
  if (const auto& v = o.repetition_penalty) {
    if (!std::isfinite(*v))
      return bad("repetition_penalty", "must be a finite number, got " + number(*v));
    if (*v <= 0.0f)
      return bad("repetition_penalty", "must be greater than zero, got " + number(*v));
  }
  if (!(o.frequency_penalty >= -2.0f && o.frequency_penalty <= 2.0f))
    return bad("frequency_penalty", "must be in [-2, 2], got " + number(o.frequency_penalty));
  if (!(o.presence_penalty >= -2.0f && o.presence_penalty <= 2.0f))
    return bad("presence_penalty", "must be in [-2, 2], got " + number(o.presence_penalty));
  if (o.max_tokens && *o.max_tokens < 1)
    return bad("max_tokens", "must be at least 1, got " + std::to_string(*o.max_tokens));
  if (o.min_tokens < 0)
    return bad("min_tokens",
               "must be greater than or equal to 0, got " + std::to_string(o.min_tokens));
  if (o.logprobs < -1 || o.logprobs > kMaxLogprobs)
    return bad("logprobs", "must be -1 (none) or in [0, " + std::to_string(kMaxLogprobs) +
                               "], got " + std::to_string(o.logprobs));
  // Every stop string is matched against every token's text: a million of them froze the
  // daemon for seconds. OpenAI takes 4; these bounds are far above what clients send.
  for (const auto& [list, field] :
       {std::pair{&o.stop, "stop"}, std::pair{&o.bad_words, "bad_words"}}) {
    if (list->size() > kMaxStopStrings)
      return bad(field, "holds " + std::to_string(list->size()) + " strings; at most " +
                            std::to_string(kMaxStopStrings) + " are taken");
    for (const std::string& s : *list) {
      if (s.empty()) return bad(field, "cannot contain an empty string");
      if (s.size() > kMaxStopStringBytes)
        return bad(field, "holds a string of " + std::to_string(s.size()) + " bytes; at most " +
                              std::to_string(kMaxStopStringBytes) + " are taken");
    }
  }
  if (o.stop_token_ids.size() > kMaxStopTokenIds)
    return bad("stop_token_ids", "holds " + std::to_string(o.stop_token_ids.size()) +
                                     " ids; at most " + std::to_string(kMaxStopTokenIds) +
                                     " are taken");
  if (auto error = check_ids(o.stop_token_ids, "stop_token_ids")) return error;
  if (auto error = check_ids(o.allowed_token_ids, "allowed_token_ids")) return error;
  for (const auto& [token, bias] : o.logit_bias) {
    if (token < 0)
      return bad("logit_bias", "keys must be token ids (>= 0), got " + std::to_string(token));
    if (!std::isfinite(bias))
      return bad("logit_bias", "values must be finite numbers, got " + number(bias));
  }
  if (const auto& v = o.truncate_prompt_tokens; v && *v != -1 && *v < 1)
    return bad(
        "truncate_prompt_tokens",
        "must be -1 (the last max_model_len tokens) or at least 1, got " + std::to_string(*v));
  return std::nullopt;
}

std::optional<RequestError> sampling_params_from(const ipc::SamplingOptions& o,
                                                 const SamplingParams& d, SamplingParams& p) {
  if (auto error = check_sampling_options(o)) return error;
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
  p.allowed_token_ids = o.allowed_token_ids;
  p.bad_words_token_ids.clear();  // fit_request_to_model tokenizes the words
  p.logit_bias.clear();
  // Clamped to [-100, 100] as vLLM does.
  for (const auto& [token, bias] : o.logit_bias)
    p.logit_bias[token] = std::clamp(bias, -100.0f, 100.0f);
  if (p.min_tokens > p.max_tokens)
    return bad("min_tokens",
               "must be less than or equal to max_tokens=" + std::to_string(p.max_tokens) +
                   ", got " + std::to_string(p.min_tokens));
  return std::nullopt;
}

std::optional<std::string> to_sampling_params(const ipc::SamplingOptions& o,
                                              const SamplingParams& d, SamplingParams& p) {
  if (auto error = sampling_params_from(o, d, p)) return error->message;
  return std::nullopt;
}

std::optional<RequestError> fit_request_to_model(const ipc::SamplingOptions& o,
                                                 const ModelLimits& limits, TextAdapter* text,
                                                 const std::string& prompt_field,
                                                 EngineRequest& request) {
  SamplingParams& p = request.params;
  const int vocab = limits.vocab_size;
  const int max_len = limits.max_model_len;
  if (vocab > 0) {
    for (int32_t id : o.allowed_token_ids) {
      if (id >= vocab)
        return bad("allowed_token_ids", "contains the out-of-vocabulary token id " +
                                            std::to_string(id) + " (the vocabulary has " +
                                            std::to_string(vocab) + " ids)");
    }
  }
  if (!o.bad_words.empty()) {
    if (text == nullptr)
      return bad("bad_words", "needs the tokenizer, which this daemon does not have for its model");
    p.bad_words_token_ids.clear();
    for (const std::string& word : o.bad_words) {
      // The word at the start of the text and in the middle of it (after a space).
      const std::string bare =
          word.substr(std::min(word.find_first_not_of(" \t\r\n"), word.size()));
      const std::vector<int32_t> plain = text->encode_prompt(bare);
      if (plain.empty())
        return bad("bad_words", "entries must tokenize to at least one token ('" + word + "')");
      p.bad_words_token_ids.push_back(plain);
      const std::vector<int32_t> spaced = text->encode_prompt(" " + bare);
      if (!spaced.empty() && spaced[0] != plain[0] && spaced.size() == plain.size())
        p.bad_words_token_ids.push_back(spaced);
    }
    if (vocab > 0) {
      for (const auto& ids : p.bad_words_token_ids) {
        for (int32_t id : ids) {
          if (id < 0 || id >= vocab)
            return bad("bad_words", "tokenize to id " + std::to_string(id) +
                                        ", outside the vocabulary of " + std::to_string(vocab));
        }
      }
    }
  }
  std::vector<int32_t>& prompt = request.prompt_token_ids;
  if (const auto& t = o.truncate_prompt_tokens) {
    if (max_len > 0 && *t > max_len)
      return bad("truncate_prompt_tokens",
                 "(" + std::to_string(*t) + ") is greater than max_model_len (" +
                     std::to_string(max_len) + "). Please, select a smaller truncation size.");
    const int keep = *t == -1 ? max_len : *t;
    if (keep > 0 && static_cast<int>(prompt.size()) > keep)
      prompt.erase(prompt.begin(), prompt.end() - keep);
  }
  if (max_len <= 0) return std::nullopt;
  const int prompt_len = static_cast<int>(prompt.size());
  const std::string limit =
      "This model's maximum context length is " + std::to_string(max_len) + " tokens. ";
  if (o.max_tokens) {
    const int64_t total = static_cast<int64_t>(prompt_len) + *o.max_tokens;
    if (total > max_len)
      return RequestError{"max_tokens",
                          "'max_tokens' is too large: " + std::to_string(*o.max_tokens) + ". " +
                              limit + "However, you requested " + std::to_string(total) +
                              " tokens (" + std::to_string(prompt_len) + " in the messages, " +
                              std::to_string(*o.max_tokens) +
                              " in the completion). Please reduce the length of the messages "
                              "or completion."};
  } else if (prompt_len >= max_len) {
    return RequestError{prompt_field, limit + "However, your request has " +
                                          std::to_string(prompt_len) +
                                          " input tokens. Please reduce the length of the "
                                          "input messages."};
  } else {
    // vLLM's default: what the context leaves, or less when the generation config says so.
    p.max_tokens = std::min(p.max_tokens, max_len - prompt_len);
    p.min_tokens = std::min(p.min_tokens, p.max_tokens);
  }
  return std::nullopt;
}

ipc::StatusReply to_status_reply(const EngineStatus& s) {
  ipc::StatusReply r;
  r.state = engine_state_name(s.state);
  r.sleep_level = s.sleep_level;
  r.load_progress = s.load_progress;
  r.load_bytes_done = s.load_bytes_done;
  r.load_bytes_total = s.load_bytes_total;
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
  for (const KvTierStats& tier : s.kv_tiers) {
    r.kv_tiers.push_back({tier.name, tier.budget_bytes, tier.num_blocks, tier.num_bytes,
                          tier.hits_total, tier.stores_total, tier.evictions_total,
                          tier.rejected_total});
  }
  r.kv_tier_restored_tokens_total = s.kv_tier_restored_tokens_total;
  return r;
}

}  // namespace mm
