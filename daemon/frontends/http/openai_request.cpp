#include "daemon/frontends/http/openai_request.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <span>

namespace mm::http {
namespace {

using nlohmann::json;

// vLLM's default --max-logprobs.
constexpr int kMaxLogprobs = 20;

// Deeper nesting than any real request has; it bounds the recursion of dump() and of
// everything else that walks the value.
constexpr int kMaxJsonDepth = 64;

json parse_body(std::string_view body) {
  try {
    json value = json::parse(body, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth)
        throw ApiError(
            400, "the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return true;
    });
    if (!value.is_object()) throw ApiError(400, "the request body must be a JSON object");
    return value;
  } catch (const json::parse_error& error) {
    throw ApiError(
        400, "the request body is not valid JSON (at byte " + std::to_string(error.byte) + ")");
  } catch (const json::out_of_range& error) {
    throw ApiError(400,
                   std::string("the request body holds a number out of range: ") + error.what());
  }
}

std::string type_name(const json& value) {
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return "null";
}

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
            std::span<const std::string_view> more = {}) const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) == known.end() &&
          std::find(more.begin(), more.end(), it.key()) == more.end())
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
  std::optional<double> number(const std::string& key, double low, double high) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) fail(key, "must be a number, not " + type_name(*v));
    const double d = v->get<double>();
    if (!(d >= low && d <= high))
      fail(key, "must be in [" + format(low) + ", " + format(high) + "], not " + format(d));
    return d;
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
  static std::string format(double d) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, d);
    return std::string(buffer, result.ptr);
  }
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

// OpenAI content: a string, or text parts (joined with nothing, as the template joins them).
std::string content_text(const json& content, const std::string& where) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    throw ApiError(400, "'" + where + "' must be a string or an array of content parts", where);
  std::string out;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    if (!content[j].is_object()) throw ApiError(400, "'" + at + "' must be an object", at);
    Fields part(content[j], at + ".");
    const std::string type = part.string("type").value_or("text");
    if (type != "text")
      throw ApiError(400, "'" + at + ".type' '" + type + "' is not supported (text only)", at);
    part.only({"type", "text"});
    out += part.string("text").value_or("");
  }
  return out;
}

std::vector<ipc::ChatMessage> parse_messages(const json& messages) {
  if (!messages.is_array() || messages.empty())
    throw ApiError(400, "'messages' must be a non-empty array", "messages");
  std::vector<ipc::ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!messages[i].is_object()) throw ApiError(400, "'" + at + "' must be an object", at);
    Fields m(messages[i], at + ".");
    m.only({"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content",
            "reasoning", "refusal"});
    ipc::ChatMessage message;
    const std::optional<std::string> role = m.string("role");
    if (!role) m.fail("role", "is required");
    message.role = *role;
    static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant",
                                                 "tool"};
    if (!kRoles.contains(message.role))
      m.fail("role",
             "'" + message.role + "' is not one of system, developer, user, assistant, tool");
    if (message.role == "developer") message.role = "system";
    if (const json* content = m.get("content"))
      message.content = content_text(*content, at + ".content");
    message.name = m.string("name").value_or("");
    message.reasoning_content =
        m.string("reasoning_content").value_or(m.string("reasoning").value_or(""));
    if (const json* calls = m.get("tool_calls")) {
      if (message.role != "assistant")
        m.fail("tool_calls", "is only allowed on assistant messages");
      if (!calls->is_array()) m.fail("tool_calls", "must be an array");
      for (size_t j = 0; j < calls->size(); ++j) {
        const std::string call_at = at + ".tool_calls[" + std::to_string(j) + "]";
        const json& call = (*calls)[j];
        if (!call.is_object()) throw ApiError(400, "'" + call_at + "' must be an object", call_at);
        Fields c(call, call_at + ".");
        c.only({"id", "type", "function", "index"});
        const json& function = c.require("function");
        if (!function.is_object()) c.fail("function", "must be an object");
        Fields f(function, call_at + ".function.");
        f.only({"name", "arguments"});
        if (!f.string("name")) f.fail("name", "is required");
        if (const json* args = f.get("arguments")) {
          // OpenAI sends arguments as JSON text; it must parse to an object for the template.
          if (args->is_string()) {
            const json parsed = json::parse(args->get<std::string>(), nullptr, false);
            if (parsed.is_discarded() || !parsed.is_object())
              f.fail("arguments", "must be a JSON object (as text)");
          } else if (!args->is_object()) {
            f.fail("arguments", "must be a JSON object or its text");
          }
        }
      }
      message.tool_calls_json = calls->dump();
    }
    if (message.role == "tool") {
      message.tool_call_id = m.string("tool_call_id").value_or("");
    } else if (m.get("tool_call_id") != nullptr) {
      m.fail("tool_call_id", "is only allowed on tool messages");
    }
    out.push_back(std::move(message));
  }
  return out;
}

std::vector<std::string> parse_tools(const json& tools) {
  if (!tools.is_array()) throw ApiError(400, "'tools' must be an array", "tools");
  std::vector<std::string> out;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!tools[i].is_object()) throw ApiError(400, "'" + at + "' must be an object", at);
    Fields t(tools[i], at + ".");
    t.only({"type", "function"});
    if (t.string("type").value_or("function") != "function") t.fail("type", "must be \"function\"");
    const json& function = t.require("function");
    if (!function.is_object()) t.fail("function", "must be an object");
    Fields f(function, at + ".function.");
    f.only({"name", "description", "parameters", "strict"});
    const std::string name = f.string("name").value_or("");
    if (name.empty()) f.fail("name", "is required");
    f.string("description");
    f.boolean("strict");
    if (const json* p = f.get("parameters"); p != nullptr && !p->is_object())
      f.fail("parameters", "must be a JSON Schema object");
    json tool = tools[i];
    tool["type"] = "function";
    out.push_back(tool.dump());
  }
  return out;
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

// The fields parse_sampling() reads, common to both endpoints (OpenAI's and vLLM's names).
constexpr std::array<std::string_view, 22> kSamplingFields = {"model",
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
                                                              "user",
                                                              "metadata",
                                                              "store",
                                                              "service_tier",
                                                              "skip_special_tokens"};

// Sampling fields shared by both endpoints (OpenAI's and vLLM's names).
void parse_sampling(const Fields& f, GenerationRequest& r) {
  ipc::SamplingOptions& s = r.sampling;
  if (auto v = f.number("temperature", 0.0, 2.0)) s.temperature = static_cast<float>(*v);
  if (auto v = f.number("top_p", 0.0, 1.0)) {
    if (*v == 0.0) f.fail("top_p", "must be greater than 0");
    s.top_p = static_cast<float>(*v);
  }
  if (auto v = f.integer("top_k", -1, std::numeric_limits<int32_t>::max()))
    s.top_k = static_cast<int>(*v);
  if (auto v = f.number("min_p", 0.0, 1.0)) s.min_p = static_cast<float>(*v);
  if (auto v = f.number("repetition_penalty", 1e-6, 1e6))
    s.repetition_penalty = static_cast<float>(*v);
  if (auto v = f.number("frequency_penalty", -2.0, 2.0))
    s.frequency_penalty = static_cast<float>(*v);
  if (auto v = f.number("presence_penalty", -2.0, 2.0)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = f.integer("seed", std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max()))
    s.seed = static_cast<uint64_t>(*v);
  if (auto v = f.integer("min_tokens", 0, std::numeric_limits<int32_t>::max()))
    s.min_tokens = static_cast<int>(*v);
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
      if (!it->is_number() || !(it->get<double>() >= -100.0 && it->get<double>() <= 100.0))
        f.fail("logit_bias", "value for '" + key + "' must be a number in [-100, 100]");
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
  // Accepted for compatibility; they change nothing here.
  f.string("user");
  f.string("service_tier");
  if (const json* m = f.get("metadata"); m != nullptr && !m->is_object())
    f.fail("metadata", "must be an object");
  f.boolean("store");
  if (auto skip = f.boolean("skip_special_tokens"); skip && !*skip)
    f.fail("skip_special_tokens", "false is not supported");
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
          "top_logprobs", "parallel_tool_calls", "add_generation_prompt", "response_format"},
         kSamplingFields);
  GenerationRequest r;
  r.chat = true;
  r.messages = parse_messages(f.require("messages"));
  parse_sampling(f, r);
  const auto max_tokens = f.integer("max_tokens", 1, std::numeric_limits<int32_t>::max());
  const auto max_completion =
      f.integer("max_completion_tokens", 1, std::numeric_limits<int32_t>::max());
  if (max_completion) {
    r.sampling.max_tokens = static_cast<int>(*max_completion);
  } else if (max_tokens) {
    r.sampling.max_tokens = static_cast<int>(*max_tokens);
  }
  const bool logprobs = f.boolean("logprobs").value_or(false);
  const auto top = f.integer("top_logprobs", 0, kMaxLogprobs);
  if (top && !logprobs) f.fail("top_logprobs", "needs \"logprobs\": true");
  if (logprobs) r.sampling.logprobs = static_cast<int>(top.value_or(0));
  if (const json* tools = f.get("tools")) r.tools_json = parse_tools(*tools);
  f.boolean("parallel_tool_calls");
  if (auto v = f.boolean("add_generation_prompt")) r.add_generation_prompt = *v;
  if (const json* format = f.get("response_format")) {
    const json* type = format->is_object() ? &(*format)["type"] : nullptr;
    if (type == nullptr || !type->is_string() || type->get<std::string>() != "text")
      f.fail("response_format", "only {\"type\": \"text\"} is supported");
  }
  // OpenAI's default: "auto" with tools, "none" without.
  r.tool_choice = r.tools_json.empty() ? ToolChoice::kNone : ToolChoice::kAuto;
  if (const json* choice = f.get("tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "none") {
        r.tool_choice = ToolChoice::kNone;
      } else if (c == "auto") {
        r.tool_choice = ToolChoice::kAuto;
      } else if (c == "required") {
        r.tool_choice = ToolChoice::kRequired;
      } else {
        f.fail("tool_choice", "must be \"none\", \"auto\", \"required\" or a named function");
      }
    } else if (choice->is_object()) {
      Fields c(*choice, "tool_choice.");
      c.only({"type", "function"});
      if (c.string("type").value_or("function") != "function")
        c.fail("type", "must be \"function\"");
      const json& function = c.require("function");
      if (!function.is_object()) c.fail("function", "must be an object");
      Fields fn(function, "tool_choice.function.");
      fn.only({"name"});
      r.tool_choice = ToolChoice::kNamed;
      r.tool_choice_name = fn.string("name").value_or("");
      bool known = false;
      for (const std::string& tool : r.tools_json)
        known = known || json::parse(tool)["function"]["name"] == r.tool_choice_name;
      if (!known) fn.fail("name", "'" + r.tool_choice_name + "' is not one of the request's tools");
    } else {
      f.fail("tool_choice", "must be a string or an object");
    }
    if (r.tool_choice != ToolChoice::kNone && r.tools_json.empty())
      f.fail("tool_choice", "needs \"tools\"");
  }
  return r;
}

GenerationRequest parse_completion_request(std::string_view body) {
  const json request = parse_body(body);
  Fields f(request);
  f.only({"prompt", "suffix", "echo", "max_tokens", "logprobs", "best_of"}, kSamplingFields);
  GenerationRequest r;
  const json& prompt = f.require("prompt");
  // A string, one string in an array, token ids, or one token-id array in an array.
  const json* one = &prompt;
  if (prompt.is_array() && !prompt.empty() && (prompt[0].is_string() || prompt[0].is_array())) {
    if (prompt.size() != 1) f.fail("prompt", "must be one prompt (batches are not supported)");
    one = &prompt[0];
  }
  if (one->is_string()) {
    r.prompt = one->get<std::string>();
    if (r.prompt->empty()) f.fail("prompt", "must not be empty");
  } else if (one->is_array() && !one->empty()) {
    r.prompt_token_ids = token_ids(*one, "prompt");
  } else {
    f.fail("prompt", "must be a non-empty string or array of token ids");
  }
  if (auto suffix = f.string("suffix"); suffix && !suffix->empty())
    f.fail("suffix", "is not supported");
  parse_sampling(f, r);
  r.sampling.max_tokens = 16;  // OpenAI's completions default
  if (auto v = f.integer("max_tokens", 1, std::numeric_limits<int32_t>::max()))
    r.sampling.max_tokens = static_cast<int>(*v);
  if (auto v = f.integer("best_of", 1, 1); !v && f.get("best_of")) f.fail("best_of", "must be 1");
  r.echo = f.boolean("echo").value_or(false);
  if (auto v = f.integer("logprobs", 0, kMaxLogprobs)) r.sampling.logprobs = static_cast<int>(*v);
  if (r.echo && r.sampling.logprobs >= 0)
    f.fail("echo", "with \"logprobs\" is not supported (prompt logprobs are not computed)");
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view body) {
  const json request = parse_body(body);
  Fields f(request);
  f.only({"model", "prompt", "messages", "tools", "add_special_tokens", "add_generation_prompt",
          "return_token_strs", "continue_final_message"});
  f.string("model");
  f.boolean("add_special_tokens");
  TokenizeRequest r;
  r.prompt = f.string("prompt");
  if (const json* messages = f.get("messages")) {
    if (r.prompt) f.fail("messages", "and 'prompt' are exclusive");
    r.messages = parse_messages(*messages);
  } else if (!r.prompt) {
    throw ApiError(400, "'prompt' or 'messages' is required", "prompt");
  }
  if (const json* tools = f.get("tools")) r.tools_json = parse_tools(*tools);
  if (auto v = f.boolean("add_generation_prompt")) r.add_generation_prompt = *v;
  if (f.boolean("continue_final_message").value_or(false))
    f.fail("continue_final_message", "is not supported");
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
