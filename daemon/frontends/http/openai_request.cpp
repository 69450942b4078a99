#include "daemon/frontends/http/openai_request.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <span>

#include "daemon/constraint/output_format.h"
#include "daemon/frontends/http/json_body.h"
#include "daemon/text/chat_request.h"

namespace mm::http {
namespace {

// Ordered: the tools and tool-call arguments the template prints keep the client's key order.
using json = nlohmann::ordered_json;

// vLLM's default --max-logprobs.
constexpr int kMaxLogprobs = 20;

// Prompts in one completions request (lm-eval sends its --batch_size); each is its own engine
// request, so the bound keeps one body from queueing without limit.
constexpr size_t kMaxBatchPrompts = 1024;


// The body reader and type names every HTTP API shares (json_body.h).
json parse_body(std::string_view body) { return parse_json_body(body); }
std::string type_name(const json& value) { return json_type_name(value); }

// Typed access to one JSON object's fields; `where` prefixes field names in messages. A null
// field counts as absent, as the OpenAI clients send null for "not set".
class Fields {
 public:
  Fields(const json& object, std::string where = {}) : object_(object), where_(std::move(where)) {}

  std::string name(const std::string& key) const { return where_ + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ApiError(400, "'" + name(key) + "' " + what, name(key));
  }
  // Every field must be one of `known` or `more`.
  void only(std::initializer_list<std::string_view> known,
            std::span<const std::string_view> more = {},
            std::span<const std::string_view> ignored = {}) const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) == known.end() &&
          std::find(more.begin(), more.end(), it.key()) == more.end() &&
          std::find(ignored.begin(), ignored.end(), it.key()) == ignored.end())
        throw ApiError(400, "unknown field '" + name(it.key()) + "'", name(it.key()));
    }
  }
  const json* get(const std::string& key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  const json& require(const std::string& key) const {
    const json* value = get(key);
    if (value == nullptr) throw ApiError(400, "'" + name(key) + "' is required", name(key));
    return *value;
  }
  std::optional<std::string> string(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string, not " + type_name(*v));
    return v->get<std::string>();
  }
  std::optional<bool> boolean(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) fail(key, "must be a boolean, not " + type_name(*v));
    return v->get<bool>();
  }
  // A number of any value (its range is the caller's to check).
  std::optional<double> real(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) fail(key, "must be a number, not " + type_name(*v));
    return v->get<double>();
  }
  std::optional<int> int32(const std::string& key) const {
    if (auto v =
            integer(key, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()))
      return static_cast<int>(*v);
    return std::nullopt;
  }
  std::optional<int64_t> integer(const std::string& key, int64_t low, int64_t high) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "must be an integer, not " + type_name(*v));
    int64_t i = 0;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(key, "is out of range");
      i = static_cast<int64_t>(u);
    } else {
      i = v->get<int64_t>();
    }
    if (i < low || i > high)
      fail(key, "must be in [" + std::to_string(low) + ", " + std::to_string(high) + "], not " +
                    std::to_string(i));
    return i;
  }

 private:
  const json& object_;
  std::string where_;
};

std::vector<int32_t> token_ids(const json& array, const std::string& where) {
  std::vector<int32_t> out;
  out.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const json& v = array[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max())
      throw ApiError(
          400, "'" + where + "[" + std::to_string(i) + "]' must be a token id (an integer >= 0)",
          where);
    out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return out;
}

// The chat fields every chat endpoint shares (/v1/chat/completions and /tokenize), read into the
// one native ChatRequest. Errors name the field.
text::ChatRequest parse_chat_fields(const Fields& f) {
  text::ChatRequest chat;
  try {
    chat.messages = text::chat_messages_from_json(to_text_json(f.require("messages")));
    if (const json* tools = f.get("tools"))
      chat.tools = text::chat_tools_from_json(to_text_json(*tools));
    // OpenAI's default: "auto" with tools, "none" without.
    chat.tool_choice = chat.tools.empty() ? text::ToolChoice::kNone : text::ToolChoice::kAuto;
    if (const json* choice = f.get("tool_choice"))
      text::apply_tool_choice(to_text_json(*choice), chat);
    if (auto v = f.boolean("add_generation_prompt")) chat.add_generation_prompt = *v;
    if (auto v = f.boolean("continue_final_message")) {
      chat.continue_final_message = *v;
      // vLLM's rule: continuing the final message implies no new generation prompt.
      if (*v && !f.get("add_generation_prompt")) chat.add_generation_prompt = false;
    }
    if (const json* kwargs = f.get("chat_template_kwargs"))
      chat.template_kwargs = text::chat_template_kwargs_from_json(to_text_json(*kwargs));
    text::check_chat_request(chat);
  } catch (const text::ChatRequestError& error) {
    throw ApiError(400, error.what(), error.field());
  }
  return chat;
}

void parse_stop(const Fields& f, ipc::SamplingOptions& sampling) {
  const json* stop = f.get("stop");
  if (stop == nullptr) return;
  if (stop->is_string()) {
    sampling.stop.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    for (const json& s : *stop) {
      if (!s.is_string()) f.fail("stop", "must be a string or an array of strings");
      sampling.stop.push_back(s.get<std::string>());
    }
  } else {
    f.fail("stop", "must be a string or an array of strings");
  }
  for (const std::string& s : sampling.stop) {
    if (s.empty()) f.fail("stop", "must not contain an empty string");
  }
}

// The scoring fields both endpoints read (vLLM's names): prompt_logprobs and
// return_tokens_as_token_ids. `r.stream` must be parsed already.
void parse_scoring(const Fields& f, GenerationRequest& r) {
  if (auto v = f.int32("prompt_logprobs")) {
    if (*v < 0 || *v > kMaxLogprobs)
      f.fail("prompt_logprobs",
             "must be in [0, " + std::to_string(kMaxLogprobs) + "], not " + std::to_string(*v));
    if (r.stream) f.fail("prompt_logprobs", "is not available with \"stream\": true");
    r.prompt_logprobs = *v;
  }
  r.return_tokens_as_token_ids = f.boolean("return_tokens_as_token_ids").value_or(false);
}

// Fields OpenAI clients and agent frameworks send that change nothing in mmd's answer: accepted
// (type-checked loosely) and ignored, each named in a debug log line.
constexpr std::array<std::string_view, 10> kIgnoredFields = {"user",
                                                             "metadata",
                                                             "store",
                                                             "service_tier",
                                                             "prompt_cache_key",
                                                             "safety_identifier",
                                                             "reasoning_effort",
                                                             "verbosity",
                                                             "prediction",
                                                             "prompt_cache_retention"};

// The fields parse_sampling() reads, common to both endpoints (OpenAI's and vLLM's names).
constexpr std::array<std::string_view, 24> kSamplingFields = {"model",
                                                              "stream",
                                                              "stream_options",
                                                              "temperature",
                                                              "top_p",
                                                              "top_k",
                                                              "min_p",
                                                              "repetition_penalty",
                                                              "frequency_penalty",
                                                              "presence_penalty",
                                                              "seed",
                                                              "stop",
                                                              "stop_token_ids",
                                                              "logit_bias",
                                                              "min_tokens",
                                                              "ignore_eos",
                                                              "n",
                                                              "skip_special_tokens",
                                                              "include_stop_str_in_output",
                                                              "return_token_ids",
                                                              "bad_words",
                                                              "allowed_token_ids",
                                                              "truncate_prompt_tokens",
                                                              "priority"};

// Sampling fields shared by both endpoints (OpenAI's and vLLM's names). Types only: the
// ranges are checked by mm::check_sampling_options, the one check every frontend shares.
void parse_sampling(const Fields& f, GenerationRequest& r) {
  ipc::SamplingOptions& s = r.sampling;
  if (auto v = f.real("temperature")) s.temperature = static_cast<float>(*v);
  if (auto v = f.real("top_p")) s.top_p = static_cast<float>(*v);
  if (auto v = f.int32("top_k")) s.top_k = *v;
  if (auto v = f.real("min_p")) s.min_p = static_cast<float>(*v);
  if (auto v = f.real("repetition_penalty")) s.repetition_penalty = static_cast<float>(*v);
  if (auto v = f.real("frequency_penalty")) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = f.real("presence_penalty")) s.presence_penalty = static_cast<float>(*v);
  if (auto v = f.integer("seed", std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max()))
    s.seed = static_cast<uint64_t>(*v);
  if (auto v = f.int32("min_tokens")) s.min_tokens = *v;
  if (auto v = f.boolean("ignore_eos")) s.ignore_eos = *v;
  parse_stop(f, s);
  if (const json* ids = f.get("stop_token_ids")) {
    if (!ids->is_array()) f.fail("stop_token_ids", "must be an array of token ids");
    s.stop_token_ids = token_ids(*ids, f.name("stop_token_ids"));
  }
  if (const json* bias = f.get("logit_bias")) {
    if (!bias->is_object()) f.fail("logit_bias", "must be an object of token id to bias");
    for (auto it = bias->begin(); it != bias->end(); ++it) {
      const std::string& key = it.key();
      const bool digits =
          !key.empty() && key.size() <= 9 &&
          std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) f.fail("logit_bias", "key '" + key + "' is not a token id");
      if (!it->is_number()) f.fail("logit_bias", "value for '" + key + "' must be a number");
      s.logit_bias.emplace_back(std::stoi(key), static_cast<float>(it->get<double>()));
    }
  }
  if (auto n = f.integer("n", 1, std::numeric_limits<int32_t>::max()); n && *n != 1)
    f.fail("n", "must be 1 (mmd returns one choice per request)");
  if (auto v = f.boolean("stream")) r.stream = *v;
  if (const json* options = f.get("stream_options")) {
    if (!options->is_object()) f.fail("stream_options", "must be an object");
    Fields o(*options, "stream_options.");
    o.only({"include_usage", "continuous_usage_stats"});
    r.include_usage = o.boolean("include_usage").value_or(false);
    if (o.boolean("continuous_usage_stats").value_or(false))
      o.fail("continuous_usage_stats", "is not supported");
    if (!r.stream) f.fail("stream_options", "is only allowed with \"stream\": true");
  }
  if (auto model = f.string("model")) r.model = *model;
  if (auto v = f.boolean("skip_special_tokens")) r.skip_special_tokens = *v;
  if (auto v = f.boolean("include_stop_str_in_output")) r.include_stop_str_in_output = *v;
  if (auto v = f.boolean("return_token_ids")) r.return_token_ids = *v;
  if (const json* words = f.get("bad_words")) {
    if (!words->is_array()) f.fail("bad_words", "must be an array of strings");
    for (const json& word : *words) {
      if (!word.is_string()) f.fail("bad_words", "must be an array of strings");
      s.bad_words.push_back(word.get<std::string>());
    }
  }
  if (const json* ids = f.get("allowed_token_ids")) {
    if (!ids->is_array()) f.fail("allowed_token_ids", "must be an array of token ids");
    s.allowed_token_ids = token_ids(*ids, f.name("allowed_token_ids"));
    if (s.allowed_token_ids.empty()) f.fail("allowed_token_ids", "must not be empty");
  }
  if (auto v = f.int32("truncate_prompt_tokens")) s.truncate_prompt_tokens = *v;
  if (auto v = f.int32("priority")) r.priority = *v;
  for (std::string_view name : kIgnoredFields) {
    if (f.get(std::string(name)) != nullptr) r.ignored_fields.emplace_back(name);
  }
}

}  // namespace

const char* error_type(int status) {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 404:
      return "NotFoundError";
    case 405:
      return "MethodNotAllowedError";
    case 413:
      return "RequestTooLargeError";
    case 429:
      return "RateLimitError";
    case 503:
      return "ServiceUnavailableError";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

std::string error_body(int status, const std::string& message, const std::string& param) {
  const json body = {{"error",
                      {{"message", message},
                       {"type", error_type(status)},
                       {"param", param.empty() ? json(nullptr) : json(param)},
                       {"code", status}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

GenerationRequest parse_chat_request(std::string_view body) {
  const json request = parse_body(body);
  Fields f(request);
  f.only({"messages", "tools", "tool_choice", "max_tokens", "max_completion_tokens", "logprobs",
          "top_logprobs", "parallel_tool_calls", "add_generation_prompt", "continue_final_message",
          "chat_template_kwargs", "response_format", "prompt_logprobs",
          "return_tokens_as_token_ids", "structured_outputs", "guided_json", "guided_regex",
          "guided_choice"},
         kSamplingFields, kIgnoredFields);
  GenerationRequest r;
  r.chat = true;
  r.chat_request = parse_chat_fields(f);
  parse_sampling(f, r);
  const auto max_tokens = f.int32("max_tokens");
  const auto max_completion = f.int32("max_completion_tokens");
  if (max_completion) {
    r.sampling.max_tokens = *max_completion;
  } else if (max_tokens) {
    r.sampling.max_tokens = *max_tokens;
  }
  const bool logprobs = f.boolean("logprobs").value_or(false);
  const auto top = f.int32("top_logprobs");
  if (top && !logprobs) f.fail("top_logprobs", "needs \"logprobs\": true");
  if (top && (*top < 0 || *top > kMaxLogprobs))
    f.fail("top_logprobs",
           "must be in [0, " + std::to_string(kMaxLogprobs) + "], not " + std::to_string(*top));
  if (logprobs) r.sampling.logprobs = top.value_or(0);
  parse_scoring(f, r);
  // Accepted: mmd may emit several calls in one turn either way.
  f.boolean("parallel_tool_calls");
  // Structured output (daemon/constraint): OpenAI's response_format and vLLM's fields.
  try {
    if (const json* format = f.get("response_format"); format != nullptr && !format->is_null())
      constraint::apply_output_format(constraint::output_format_from_json(to_text_json(*format)),
                                      r.chat_request);
    for (const char* field : {"structured_outputs", "guided_json", "guided_regex", "guided_choice"}) {
      if (const json* v = f.get(field); v != nullptr && !v->is_null())
        constraint::apply_output_format(constraint::guided_from_json(field, to_text_json(*v)),
                                        r.chat_request);
    }
  } catch (const text::ChatRequestError& error) {
    throw ApiError(400, error.what(), error.field());
  }
  return r;
}

GenerationRequest parse_completion_request(std::string_view body) {
  const json request = parse_body(body);
  Fields f(request);
  f.only({"prompt", "suffix", "echo", "max_tokens", "logprobs", "best_of", "prompt_logprobs",
          "return_tokens_as_token_ids"},
         kSamplingFields, kIgnoredFields);
  GenerationRequest r;
  const json& prompt = f.require("prompt");
  // A string, token ids, or a batch: a list of strings or of token-id lists.
  const auto one_prompt = [&](const json& value, const std::string& where) {
    GenerationRequest::Prompt p;
    if (value.is_string()) {
      p.text = value.get<std::string>();
      if (p.text->empty()) throw ApiError(400, "'" + where + "' must not be empty", "prompt");
    } else if (value.is_array() && !value.empty()) {
      p.token_ids = token_ids(value, where);
    } else {
      throw ApiError(400, "'" + where + "' must be a non-empty string or array of token ids",
                     "prompt");
    }
    return p;
  };
  if (prompt.is_array() && !prompt.empty() && (prompt[0].is_string() || prompt[0].is_array())) {
    if (prompt.size() > kMaxBatchPrompts)
      f.fail("prompt", "holds " + std::to_string(prompt.size()) + " prompts; at most " +
                           std::to_string(kMaxBatchPrompts) + " are taken in one request");
    for (size_t i = 0; i < prompt.size(); ++i) {
      const std::string where = "prompt[" + std::to_string(i) + "]";
      if (prompt[i].is_string() != prompt[0].is_string())
        throw ApiError(400, "'" + where + "' must be " +
                                (prompt[0].is_string() ? "a string" : "an array of token ids") +
                                " like 'prompt[0]'",
                       "prompt");
      r.prompts.push_back(one_prompt(prompt[i], where));
    }
  } else {
    r.prompts.push_back(one_prompt(prompt, "prompt"));
  }
  r.prompt = r.prompts[0].text;
  r.prompt_token_ids = r.prompts[0].token_ids;
  if (auto suffix = f.string("suffix"); suffix && !suffix->empty())
    f.fail("suffix", "is not supported");
  parse_sampling(f, r);
  if (r.stream && r.prompts.size() > 1)
    f.fail("stream", "is not supported with a batch of prompts (send them one per request)");
  r.sampling.max_tokens = 16;  // OpenAI's completions default
  if (auto v = f.int32("max_tokens")) r.sampling.max_tokens = *v;
  if (auto v = f.integer("best_of", 1, 1); !v && f.get("best_of")) f.fail("best_of", "must be 1");
  r.echo = f.boolean("echo").value_or(false);
  if (auto v = f.int32("logprobs")) {
    // -1 means "none" on the wire of the other frontends; here absence does.
    if (*v < 0) f.fail("logprobs", "must be in [0, " + std::to_string(kMaxLogprobs) + "]");
    r.sampling.logprobs = *v;
  }
  parse_scoring(f, r);
  // OpenAI's rule: max_tokens 0 with echo returns the prompt (scored with logprobs), no
  // generation. Left unset here so the shared range check passes; the frontend runs it as 0.
  if (r.echo && r.sampling.max_tokens == 0) {
    r.echo_only = true;
    r.sampling.max_tokens.reset();
  }
  if (r.echo && r.sampling.logprobs >= 0 && r.prompt_logprobs < 0)
    r.prompt_logprobs = r.sampling.logprobs;  // vLLM's: echo scores the prompt
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view body) {
  const json request = parse_body(body);
  Fields f(request);
  f.only({"model", "prompt", "messages", "tools", "tool_choice", "add_special_tokens",
          "add_generation_prompt", "return_token_strs", "continue_final_message",
          "chat_template_kwargs"});
  f.string("model");
  TokenizeRequest r;
  r.prompt = f.string("prompt");
  if (f.get("messages") != nullptr) {
    if (r.prompt) f.fail("messages", "and 'prompt' are exclusive");
    r.chat = parse_chat_fields(f);
  } else if (!r.prompt) {
    throw ApiError(400, "'prompt' or 'messages' is required", "prompt");
  } else {
    for (const char* key : {"tools", "tool_choice", "add_generation_prompt",
                            "continue_final_message", "chat_template_kwargs"}) {
      if (f.get(key) != nullptr) f.fail(key, "goes with 'messages', not 'prompt'");
    }
  }
  if (auto add = f.boolean("add_special_tokens"); add && *add && r.prompt)
    r.add_special_tokens = true;
  r.return_token_strs = f.boolean("return_token_strs").value_or(false);
  return r;
}

std::vector<int32_t> parse_detokenize_request(std::string_view body) {
  const json request = parse_body(body);
  Fields f(request);
  f.only({"model", "tokens"});
  f.string("model");
  const json& tokens = f.require("tokens");
  if (!tokens.is_array()) f.fail("tokens", "must be an array of token ids");
  return token_ids(tokens, "tokens");
}

}  // namespace mm::http
