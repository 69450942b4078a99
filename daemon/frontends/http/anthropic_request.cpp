#include "daemon/frontends/http/anthropic_request.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>

#include "daemon/text/error.h"
#include "daemon/text/json_value.h"

namespace mm::http {
namespace {

using text::JsonArray;
using text::JsonObject;
using text::JsonValue;

// As for the OpenAI bodies: deeper than any real request, and it bounds every later walk.
constexpr int kMaxJsonDepth = 64;

std::string type_name(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return "a boolean";
    case JsonValue::Type::kInt:
    case JsonValue::Type::kFloat:
      return "a number";
    case JsonValue::Type::kString:
      return "a string";
    case JsonValue::Type::kArray:
      return "an array";
    case JsonValue::Type::kObject:
      return "an object";
  }
  return "a value";
}

int depth_of(const JsonValue& value, int limit) {
  if (limit < 0) return 0;
  int deepest = 0;
  if (value.is_array()) {
    for (const JsonValue& item : value.as_array())
      deepest = std::max(deepest, depth_of(item, limit - 1));
    return deepest + 1;
  }
  if (value.is_object()) {
    for (const auto& [key, item] : value.as_object())
      deepest = std::max(deepest, depth_of(item, limit - 1));
    return deepest + 1;
  }
  return 0;
}

JsonValue parse_body(std::string_view body) {
  JsonValue value;
  try {
    value = JsonValue::parse(body, "the request body");
  } catch (const text::TextError& error) {
    throw ApiError(400, std::string("the request body is not valid JSON (") + error.what() + ")");
  }
  if (!value.is_object()) throw ApiError(400, "the request body must be a JSON object");
  if (depth_of(value, kMaxJsonDepth + 1) > kMaxJsonDepth)
    throw ApiError(
        400, "the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  return value;
}

// One JSON object's members by name; `where` is its path ("" for the body). Null counts as
// absent, as the Anthropic clients leave unset fields out or send null.
class Fields {
 public:
  Fields(const JsonValue& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object())
      throw ApiError(400, "'" + where_ + "' must be an object, not " + type_name(object_), where_);
  }

  std::string path(std::string_view key) const {
    return where_.empty() ? std::string(key) : where_ + "." + std::string(key);
  }
  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    throw ApiError(400, "'" + path(key) + "' " + what, path(key));
  }
  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : object_.as_object()) {
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw ApiError(400, "unknown field '" + path(key) + "'", path(key));
    }
  }
  const JsonValue* get(std::string_view key) const {
    const JsonValue* value = object_.find(key);
    return value == nullptr || value->is_null() ? nullptr : value;
  }
  const JsonValue& require(std::string_view key) const {
    const JsonValue* value = get(key);
    if (value == nullptr) fail(key, "is required");
    return *value;
  }
  std::optional<std::string> string(std::string_view key) const {
    const JsonValue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string, not " + type_name(*v));
    return v->as_string();
  }
  std::optional<bool> boolean(std::string_view key) const {
    const JsonValue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) fail(key, "must be a boolean, not " + type_name(*v));
    return v->as_bool();
  }
  std::optional<double> real(std::string_view key) const {
    const JsonValue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) fail(key, "must be a number, not " + type_name(*v));
    return v->as_number();
  }
  std::optional<int> int32(std::string_view key) const {
    const JsonValue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_int()) fail(key, "must be an integer, not " + type_name(*v));
    if (v->as_int() < std::numeric_limits<int32_t>::min() ||
        v->as_int() > std::numeric_limits<int32_t>::max())
      fail(key, "is out of range");
    return static_cast<int>(v->as_int());
  }
  const JsonValue* object(std::string_view key) const {
    const JsonValue* v = get(key);
    if (v != nullptr && !v->is_object()) fail(key, "must be an object, not " + type_name(*v));
    return v;
  }
  const JsonValue* array(std::string_view key) const {
    const JsonValue* v = get(key);
    if (v != nullptr && !v->is_array()) fail(key, "must be an array, not " + type_name(*v));
    return v;
  }

 private:
  const JsonValue& object_;
  std::string where_;
};

std::string at(const std::string& where, size_t index) {
  return where + "[" + std::to_string(index) + "]";
}

JsonValue text_part(const std::string& text) {
  return JsonValue(JsonObject{{"type", JsonValue("text")}, {"text", JsonValue(text)}});
}

// cache_control is Anthropic's prompt-caching hint; mmd caches every prefix on its own.
void check_cache_control(const Fields& f) {
  f.object("cache_control");
}

// Block types Anthropic runs on its own servers, or that carry media: named so the error says
// why rather than "unknown".
constexpr std::array<std::string_view, 8> kMediaBlocks = {
    "image", "document", "search_result", "container_upload", "file", "audio", "video", "pdf"};

[[noreturn]] void refuse_block(const Fields& block, const std::string& type) {
  if (std::find(kMediaBlocks.begin(), kMediaBlocks.end(), type) != kMediaBlocks.end())
    block.fail("type", "'" + type + "' blocks are not supported: this model reads text only");
  if (type.find("tool_use") != std::string::npos || type.find("tool_result") != std::string::npos)
    block.fail("type", "'" + type +
                           "' is a block of a tool Anthropic's servers run; mmd runs no server "
                           "tools (define it as a custom tool)");
  block.fail("type", "'" + type +
                         "' is not a content block type mmd reads (text, tool_use, tool_result, "
                         "thinking, redacted_thinking)");
}

// A text block's text (system, message content, tool_result content).
std::string text_block(const Fields& block) {
  block.only({"type", "text", "cache_control", "citations"});
  check_cache_control(block);
  block.array("citations");
  const auto text = block.string("text");
  if (!text) block.fail("text", "is required");
  return *text;
}

// tool_result content: a string or text blocks, joined into one response.
std::string tool_result_text(const JsonValue& content, const std::string& where) {
  if (content.is_string()) return content.as_string();
  if (!content.is_array())
    throw ApiError(
        400,
        "'" + where + "' must be a string or an array of text blocks, not " + type_name(content),
        where);
  std::string out;
  const JsonArray& blocks = content.as_array();
  for (size_t k = 0; k < blocks.size(); ++k) {
    Fields block(blocks[k], at(where, k));
    const std::string type = block.string("type").value_or("");
    if (type.empty()) block.fail("type", "is required");
    if (type != "text") refuse_block(block, type);
    if (!out.empty()) out += "\n";
    out += text_block(block);
  }
  return out;
}

// Claude Code's attribution line carries a per-request hash; kept in the prompt it would defeat
// the prefix cache on every turn, and it is addressed to Anthropic's billing, not the model.
bool is_billing_header(const std::string& text) {
  return text.starts_with("x-anthropic-billing-header:");
}

std::optional<text::ChatMessage> system_message(const JsonValue& system) {
  text::ChatMessage message;
  message.role = "system";
  if (system.is_string()) {
    message.content = system;
    return message;
  }
  if (!system.is_array())
    throw ApiError(400,
                   "'system' must be a string or an array of text blocks, not " + type_name(system),
                   "system");
  JsonArray parts;
  const JsonArray& blocks = system.as_array();
  for (size_t k = 0; k < blocks.size(); ++k) {
    Fields block(blocks[k], at("system", k));
    const std::string type = block.string("type").value_or("");
    if (type != "text") block.fail("type", "must be \"text\" (system takes text blocks only)");
    const std::string text = text_block(block);
    if (!is_billing_header(text)) parts.push_back(text_part(text));
  }
  if (parts.empty()) return std::nullopt;
  // Parts, as the OpenAI reader keeps them: the template's visible_text joins them.
  message.content = JsonValue(std::move(parts));
  return message;
}

// One Anthropic message, appended as the native messages it stands for: an assistant turn
// (thinking -> reasoning_content, text, tool_use -> tool_calls) or a user turn (text, and each
// tool_result as a tool message, in the order sent). `open_tool_ids` are the tool_use ids of the
// assistant turn before, which a tool_result must answer.
void append_message(const JsonValue& value, const std::string& where,
                    std::vector<std::string>& open_tool_ids, std::vector<text::ChatMessage>& out) {
  Fields m(value, where);
  m.only({"role", "content"});
  const std::string role = m.string("role").value_or("");
  if (role.empty()) m.fail("role", "is required");
  if (role == "system")
    m.fail(
        "role",
        "'system' is not a message role: send the system prompt in the top-level 'system' field");
  if (role != "user" && role != "assistant")
    m.fail("role", "'" + role + "' is not one of user, assistant");
  const JsonValue* content = m.get("content");
  if (content == nullptr) m.fail("content", "is required");
  const std::string content_at = m.path("content");
  if (content->is_string()) {
    out.push_back(text::ChatMessage{.role = role, .content = *content});
    if (role == "assistant") open_tool_ids.clear();
    return;
  }
  if (!content->is_array())
    m.fail("content", "must be a string or an array of content blocks, not " + type_name(*content));
  const JsonArray& blocks = content->as_array();
  if (role == "assistant") {
    text::ChatMessage message{.role = "assistant"};
    JsonArray parts;
    std::optional<std::string> reasoning;
    open_tool_ids.clear();
    for (size_t k = 0; k < blocks.size(); ++k) {
      Fields block(blocks[k], at(content_at, k));
      const std::string type = block.string("type").value_or("");
      if (type.empty()) block.fail("type", "is required");
      if (type == "text") {
        parts.push_back(text_part(text_block(block)));
      } else if (type == "thinking") {
        // MiniMax's reasoning: the template renders it when the turn follows the last user
        // message (interleaved thinking). The signature is mmd's own and not checked.
        block.only({"type", "thinking", "signature", "cache_control"});
        check_cache_control(block);
        block.string("signature");
        const auto thinking = block.string("thinking");
        if (!thinking) block.fail("thinking", "is required");
        reasoning = reasoning ? *reasoning + "\n" + *thinking : *thinking;
      } else if (type == "redacted_thinking") {
        block.only({"type", "data", "cache_control"});
        if (!block.string("data")) block.fail("data", "is required");
        // Anthropic's encrypted reasoning: nothing this model can read; dropped.
      } else if (type == "tool_use") {
        block.only({"type", "id", "name", "input", "cache_control", "caller", "toolset_name"});
        check_cache_control(block);
        text::ChatToolCall call;
        call.id = block.string("id").value_or("");
        if (call.id.empty()) block.fail("id", "is required");
        call.name = block.string("name").value_or("");
        if (call.name.empty()) block.fail("name", "is required");
        const JsonValue* input = block.get("input");
        if (input == nullptr) block.fail("input", "is required (send {} for none)");
        if (!input->is_object()) block.fail("input", "must be an object, not " + type_name(*input));
        call.arguments = *input;
        if (std::find(open_tool_ids.begin(), open_tool_ids.end(), call.id) != open_tool_ids.end())
          block.fail("id", "'" + call.id + "' is the id of another tool_use block of this message");
        open_tool_ids.push_back(call.id);
        message.tool_calls.push_back(std::move(call));
      } else if (type == "tool_result") {
        block.fail("type", "'tool_result' blocks belong in user messages");
      } else {
        refuse_block(block, type);
      }
    }
    if (parts.size() == 1) {
      message.content = *parts[0].find("text");
    } else if (!parts.empty()) {
      message.content = JsonValue(std::move(parts));
    }
    message.reasoning_content = std::move(reasoning);
    out.push_back(std::move(message));
    return;
  }
  // A user turn: text runs become user messages, each tool_result a tool message, in order.
  JsonArray parts;
  bool any = false;
  auto flush_text = [&] {
    if (parts.empty()) return;
    out.push_back(text::ChatMessage{.role = "user", .content = JsonValue(std::move(parts))});
    parts = JsonArray();
    any = true;
  };
  std::vector<std::string> answered;
  for (size_t k = 0; k < blocks.size(); ++k) {
    Fields block(blocks[k], at(content_at, k));
    const std::string type = block.string("type").value_or("");
    if (type.empty()) block.fail("type", "is required");
    if (type == "text") {
      parts.push_back(text_part(text_block(block)));
    } else if (type == "tool_result") {
      block.only({"type", "tool_use_id", "content", "is_error", "cache_control"});
      check_cache_control(block);
      const std::string id = block.string("tool_use_id").value_or("");
      if (id.empty()) block.fail("tool_use_id", "is required");
      if (std::find(open_tool_ids.begin(), open_tool_ids.end(), id) == open_tool_ids.end())
        block.fail("tool_use_id", "'" + id +
                                      "' does not answer a tool_use block of the assistant "
                                      "message before it");
      if (std::find(answered.begin(), answered.end(), id) != answered.end())
        block.fail("tool_use_id", "'" + id + "' is answered twice");
      answered.push_back(id);
      std::string result;
      if (const JsonValue* c = block.get("content"))
        result = tool_result_text(*c, block.path("content"));
      // The template has no error flag for a tool response; the model reads it in the text.
      if (block.boolean("is_error").value_or(false)) result = "Error: " + result;
      flush_text();
      out.push_back(
          text::ChatMessage{.role = "tool", .content = JsonValue(result), .tool_call_id = id});
      any = true;
    } else if (type == "tool_use" || type == "thinking" || type == "redacted_thinking") {
      block.fail("type", "'" + type + "' blocks belong in assistant messages");
    } else {
      refuse_block(block, type);
    }
  }
  flush_text();
  if (!any) out.push_back(text::ChatMessage{.role = "user", .content = JsonValue("")});
  open_tool_ids.clear();
}

// Anthropic's custom tools become the native (OpenAI-shaped) tool objects: name, description,
// and input_schema as the parameters.
JsonArray tools_from(const JsonValue& tools) {
  if (!tools.is_array())
    throw ApiError(400, "'tools' must be an array, not " + type_name(tools), "tools");
  JsonArray out;
  const JsonArray& items = tools.as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    Fields tool(items[i], at("tools", i));
    const std::string type = tool.string("type").value_or("custom");
    if (type != "custom")
      tool.fail("type", "'" + type +
                            "' is a tool Anthropic defines and runs; mmd takes custom tools "
                            "(name, description, input_schema)");
    tool.only({"type", "name", "description", "input_schema", "cache_control", "strict",
               "defer_loading", "input_examples", "eager_input_streaming"});
    check_cache_control(tool);
    tool.boolean("strict");
    tool.boolean("defer_loading");
    tool.boolean("eager_input_streaming");
    tool.array("input_examples");
    const std::string name = tool.string("name").value_or("");
    if (name.empty()) tool.fail("name", "is required");
    for (size_t k = 0; k < i; ++k) {
      if (text::tool_name(out[k]) == name)
        tool.fail("name", "'" + name + "' is also the name of " + at("tools", k));
    }
    const JsonValue* schema = tool.get("input_schema");
    if (schema == nullptr) tool.fail("input_schema", "is required");
    if (!schema->is_object())
      tool.fail("input_schema", "must be a JSON Schema object, not " + type_name(*schema));
    JsonObject function{{"name", JsonValue(name)}};
    if (auto description = tool.string("description"))
      function.emplace_back("description", JsonValue(*description));
    function.emplace_back("parameters", *schema);
    out.push_back(JsonValue(
        JsonObject{{"type", JsonValue("function")}, {"function", JsonValue(std::move(function))}}));
  }
  return out;
}

void read_tool_choice(const JsonValue& choice, text::ChatRequest& chat) {
  Fields c(choice, "tool_choice");
  c.only({"type", "name", "disable_parallel_tool_use"});
  c.boolean("disable_parallel_tool_use");  // accepted: each turn may call one or more tools
  const std::string type = c.string("type").value_or("");
  if (type.empty()) c.fail("type", "is required");
  if (type != "tool" && c.get("name") != nullptr)
    c.fail("name", "goes with \"type\": \"tool\" only");
  if (type == "auto") {
    chat.tool_choice = text::ToolChoice::kAuto;
  } else if (type == "any") {
    chat.tool_choice = text::ToolChoice::kRequired;
  } else if (type == "none") {
    chat.tool_choice = text::ToolChoice::kNone;
  } else if (type == "tool") {
    const std::string name = c.string("name").value_or("");
    if (name.empty()) c.fail("name", "is required with \"type\": \"tool\"");
    const bool known =
        std::any_of(chat.tools.begin(), chat.tools.end(),
                    [&](const JsonValue& tool) { return text::tool_name(tool) == name; });
    if (!known) c.fail("name", "'" + name + "' is not one of the request's tools");
    chat.tool_choice = text::ToolChoice::kNamed;
    chat.tool_choice_name = name;
  } else {
    c.fail("type", "must be \"auto\", \"any\", \"tool\" or \"none\", not '" + type + "'");
  }
}

// Fields clients send that change nothing here: metadata (user_id), service_tier, thinking (the
// model always reasons; its reasoning comes back as thinking blocks), context_management, and
// output_config with an effort only.
void check_ignored(const Fields& f, std::vector<std::string>& ignored) {
  if (const JsonValue* metadata = f.object("metadata")) {
    Fields m(*metadata, "metadata");
    m.only({"user_id"});
    m.string("user_id");
    ignored.emplace_back("metadata");
  }
  if (f.string("service_tier")) ignored.emplace_back("service_tier");
  if (const JsonValue* thinking = f.object("thinking")) {
    Fields t(*thinking, "thinking");
    t.only({"type", "budget_tokens", "display"});
    const std::string type = t.string("type").value_or("");
    if (type != "enabled" && type != "disabled" && type != "adaptive" && type != "between_tools")
      t.fail("type", "must be \"enabled\", \"disabled\", \"adaptive\" or \"between_tools\"");
    if (auto budget = t.int32("budget_tokens"); budget && *budget < 1)
      t.fail("budget_tokens", "must be at least 1");
    t.string("display");
    ignored.emplace_back("thinking");
  }
  if (f.object("context_management")) ignored.emplace_back("context_management");
  // Prompt caching (mmd caches every prefix itself), diagnostics, routing and account fields.
  for (std::string_view key : {"cache_control", "diagnostics"}) {
    if (f.object(key)) ignored.emplace_back(key);
  }
  for (std::string_view key : {"inference_geo", "speed", "user_profile_id", "workspace_id"}) {
    if (f.string(key)) ignored.emplace_back(key);
  }
  if (const JsonValue* container = f.get("container")) {
    if (!container->is_string() && !container->is_object())
      f.fail("container", "must be a string or an object");
    ignored.emplace_back("container");  // code execution's: mmd runs no server tools
  }
  if (const JsonValue* output = f.object("output_config")) {
    Fields o(*output, "output_config");
    o.only({"effort", "format"});
    o.string("effort");
    if (o.get("format") != nullptr) o.fail("format", "(structured output) is not supported");
    ignored.emplace_back("output_config");
  }
}

// The conversation fields both endpoints share, into `chat`. Errors name the field.
void read_conversation(const Fields& f, text::ChatRequest& chat) {
  if (const JsonValue* system = f.get("system")) {
    if (auto message = system_message(*system)) chat.messages.push_back(std::move(*message));
  }
  const JsonValue& messages = f.require("messages");
  if (!messages.is_array()) f.fail("messages", "must be an array of messages");
  if (messages.as_array().empty()) f.fail("messages", "must not be empty");
  std::vector<std::string> open_tool_ids;
  const JsonArray& items = messages.as_array();
  for (size_t i = 0; i < items.size(); ++i)
    append_message(items[i], at("messages", i), open_tool_ids, chat.messages);
  if (const JsonValue* tools = f.get("tools")) chat.tools = tools_from(*tools);
  chat.tool_choice = chat.tools.empty() ? text::ToolChoice::kNone : text::ToolChoice::kAuto;
  if (const JsonValue* choice = f.get("tool_choice")) read_tool_choice(*choice, chat);
  // A final assistant message is a prefill: the answer continues it.
  const JsonValue& last = items.back();
  const JsonValue* role = last.find("role");
  if (role != nullptr && role->is_string() && role->as_string() == "assistant") {
    if (!chat.messages.back().tool_calls.empty())
      f.fail("messages", "ends with an assistant tool_use: answer it with a user tool_result");
    chat.continue_final_message = true;
    chat.add_generation_prompt = false;
  }
  try {
    text::check_chat_request(chat);
  } catch (const text::ChatRequestError& error) {
    throw ApiError(400, error.what(), error.field());
  }
}

std::string model_of(const Fields& f) {
  std::string model = f.string("model").value_or("");
  if (model.empty()) f.fail("model", "is required");
  return model;
}

}  // namespace

GenerationRequest parse_messages_request(std::string_view body) {
  const JsonValue request = parse_body(body);
  Fields f(request, "");
  f.only({"model",         "messages",        "system",       "max_tokens",  "stop_sequences",
          "stream",        "temperature",     "top_p",        "top_k",       "tools",
          "tool_choice",   "metadata",        "service_tier", "thinking",    "context_management",
          "output_config", "cache_control",   "container",    "diagnostics", "inference_geo",
          "speed",         "user_profile_id", "workspace_id"});
  GenerationRequest r;
  r.chat = true;
  r.model = model_of(f);
  // Anthropic requires it; there is no server default to fall back on.
  const auto max_tokens = f.int32("max_tokens");
  if (!max_tokens) f.fail("max_tokens", "is required");
  if (*max_tokens < 1)
    f.fail("max_tokens", "must be at least 1, not " + std::to_string(*max_tokens));
  r.sampling.max_tokens = *max_tokens;
  read_conversation(f, r.chat_request);
  if (const JsonValue* stops = f.array("stop_sequences")) {
    const JsonArray& items = stops->as_array();
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string() || items[i].as_string().empty())
        throw ApiError(400, "'" + at("stop_sequences", i) + "' must be a non-empty string",
                       "stop_sequences");
      r.sampling.stop.push_back(items[i].as_string());
    }
  }
  if (auto v = f.boolean("stream")) r.stream = *v;
  // Types only here: the ranges are mm::check_sampling_options', as for every frontend.
  if (auto v = f.real("temperature")) r.sampling.temperature = static_cast<float>(*v);
  if (auto v = f.real("top_p")) r.sampling.top_p = static_cast<float>(*v);
  if (auto v = f.int32("top_k")) r.sampling.top_k = *v;
  check_ignored(f, r.ignored_fields);
  return r;
}

CountTokensRequest parse_count_tokens_request(std::string_view body) {
  const JsonValue request = parse_body(body);
  Fields f(request, "");
  f.only({"model", "messages", "system", "tools", "tool_choice", "thinking", "context_management",
          "output_config", "output_format", "cache_control", "speed", "user_profile_id",
          "workspace_id"});
  if (f.get("output_format") != nullptr)
    f.fail("output_format", "(structured output) is not supported");
  CountTokensRequest r;
  r.model = model_of(f);
  read_conversation(f, r.chat);
  check_ignored(f, r.ignored_fields);
  return r;
}

}  // namespace mm::http
