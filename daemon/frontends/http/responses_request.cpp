#include "daemon/frontends/http/responses_request.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "daemon/frontends/http/json_body.h"
#include "daemon/text/chat_request.h"
#include "daemon/text/error.h"

namespace mm::http {
namespace {

using json = nlohmann::ordered_json;

// The body reader and type names every HTTP API shares (json_body.h).
json parse_body(std::string_view body) { return parse_json_body(body); }
std::string type_name(const json& value) { return json_type_name(value); }

[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw ApiError(400, "'" + field + "' " + what, field);
}

// One JSON object's members by name; `where` is its path ("" for the body, "input[2]").
// A null member counts as absent: the openai client sends null for "not set".
class Object {
 public:
  Object(const json& value, std::string where) : value_(value), where_(std::move(where)) {
    if (!value_.is_object())
      fail(where_.empty() ? "body" : where_, "must be an object, not " + type_name(value_));
  }

  std::string path(const std::string& key) const {
    return where_.empty() ? key : where_ + "." + key;
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    http::fail(path(key), what);
  }
  void only(std::initializer_list<std::string_view> known) const {
    for (auto it = value_.begin(); it != value_.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) == known.end())
        throw ApiError(400, "unknown field '" + path(it.key()) + "'", path(it.key()));
    }
  }
  const json* get(const std::string& key) const {
    auto it = value_.find(key);
    return it == value_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) fail(key, "is required");
    return *v;
  }
  std::optional<std::string> string(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string, not " + type_name(*v));
    return v->get<std::string>();
  }
  std::string required_string(const std::string& key) const {
    auto v = string(key);
    if (!v || v->empty()) fail(key, "is required");
    return *v;
  }
  std::optional<bool> boolean(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) fail(key, "must be a boolean, not " + type_name(*v));
    return v->get<bool>();
  }
  std::optional<double> real(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) fail(key, "must be a number, not " + type_name(*v));
    return v->get<double>();
  }
  std::optional<int> int32(const std::string& key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "must be an integer, not " + type_name(*v));
    if (v->is_number_unsigned() ? v->get<uint64_t>() > std::numeric_limits<int32_t>::max()
                                : v->get<int64_t>() < std::numeric_limits<int32_t>::min() ||
                                      v->get<int64_t>() > std::numeric_limits<int32_t>::max())
      fail(key, "is out of range");
    return static_cast<int>(v->get<int64_t>());
  }
  // A string that must be one of `allowed`.
  std::optional<std::string> one_of(const std::string& key,
                                    std::initializer_list<std::string_view> allowed) const {
    auto v = string(key);
    if (v && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      fail(key, "must be one of " + list + ", not '" + *v + "'");
    }
    return v;
  }

 private:
  const json& value_;
  std::string where_;
};

std::string at(const std::string& where, size_t index) {
  return where + "[" + std::to_string(index) + "]";
}

text::JsonValue text_part(std::string text) {
  return text::JsonValue(text::JsonObject{{"type", "text"}, {"text", std::move(text)}});
}

// A message item's `content`: a string, or parts. User, system and developer messages carry
// input_text parts, assistant messages output_text (or refusal) parts, as OpenAI requires.
// Returns what the template reads: the string, or {"type":"text"} parts.
text::JsonValue message_content(const json& content, const std::string& where, bool assistant) {
  if (content.is_string()) return text::JsonValue(content.get<std::string>());
  if (!content.is_array())
    fail(where, "must be a string or an array of content parts, not " + type_name(content));
  text::JsonArray parts;
  for (size_t i = 0; i < content.size(); ++i) {
    Object part(content[i], at(where, i));
    const std::string type = part.required_string("type");
    if (type == "input_text" && !assistant) {
      part.only({"type", "text", "prompt_cache_breakpoint"});
      parts.push_back(text_part(part.string("text").value_or("")));
    } else if (type == "output_text" && assistant) {
      part.only({"type", "text", "annotations", "logprobs"});
      parts.push_back(text_part(part.string("text").value_or("")));
    } else if (type == "refusal" && assistant) {
      part.only({"type", "refusal"});
      parts.push_back(text_part(part.string("refusal").value_or("")));
    } else if (type == "input_image" || type == "input_file" || type == "input_audio") {
      part.fail("type", "'" + type + "' is not supported (mmd's models read text only)");
    } else {
      part.fail("type", "'" + type + "' is not a content part of " +
                            (assistant ? std::string("an assistant message (output_text, refusal)")
                                       : std::string("this message (input_text)")));
    }
    if (!part.get(type == "refusal" ? "refusal" : "text"))
      part.fail(type == "refusal" ? "refusal" : "text", "is required");
  }
  return text::JsonValue(std::move(parts));
}

// A function call's arguments: JSON text of an object (the object itself is accepted too, as the
// chat reader accepts it). The template iterates the arguments, so they must be an object.
text::JsonValue call_arguments(const Object& item) {
  const json* args = item.get("arguments");
  if (args == nullptr) item.fail("arguments", "is required (send \"{}\" for none)");
  text::JsonValue parsed = text::JsonValue(text::JsonObject{});
  if (args->is_string()) {
    const std::string& text = args->get_ref<const std::string&>();
    if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
      try {
        parsed = text::JsonValue::parse(text, item.path("arguments"));
      } catch (const text::TextError& error) {
        item.fail("arguments", std::string("is not valid JSON: ") + error.what());
      }
    }
  } else {
    parsed = to_text_json(*args);
  }
  if (!parsed.is_object()) item.fail("arguments", "must be the JSON text of an object");
  return parsed;
}

// Reasoning item text: its reasoning_text content, else its summary (what MiniMax's interleaved
// thinking needs back as reasoning_content).
std::string reasoning_text(const Object& item) {
  std::string out;
  auto read = [&](const char* key, const char* type) {
    const json* parts = item.get(key);
    if (parts == nullptr) return std::string();
    if (!parts->is_array()) item.fail(key, "must be an array, not " + type_name(*parts));
    std::string text;
    for (size_t i = 0; i < parts->size(); ++i) {
      Object part((*parts)[i], at(item.path(key), i));
      part.only({"type", "text"});
      if (part.string("type").value_or(type) != type)
        part.fail("type", std::string("must be \"") + type + "\"");
      if (!text.empty()) text += "\n\n";
      text += part.string("text").value_or("");
    }
    return text;
  };
  out = read("content", "reasoning_text");
  const std::string summary = read("summary", "summary_text");
  return out.empty() ? summary : out;
}

// `input`: a string (one user message) or a list of items, mapped to chat messages in order. A
// reasoning item opens the assistant turn that follows it; function_call items join the assistant
// message before them; function_call_output items become tool messages.
std::vector<text::ChatMessage> input_messages(const json& input) {
  std::vector<text::ChatMessage> out;
  if (input.is_string()) {
    out.push_back({.role = "user", .content = text::JsonValue(input.get<std::string>())});
    return out;
  }
  if (!input.is_array() || input.empty())
    fail("input", "must be a string or a non-empty array of items");
  std::vector<std::string> call_ids;
  // The assistant message an item may join: the last one, while no other message follows it.
  auto open_assistant = [&]() -> text::ChatMessage* {
    return !out.empty() && out.back().role == "assistant" ? &out.back() : nullptr;
  };
  for (size_t i = 0; i < input.size(); ++i) {
    const std::string where = at("input", i);
    Object item(input[i], where);
    std::string type = item.string("type").value_or("");
    if (type.empty()) {
      if (item.get("role") == nullptr) item.fail("type", "is required");
      type = "message";  // EasyInputMessage: role and content only
    }
    if (type == "message") {
      item.only({"type", "role", "content", "id", "status", "phase"});
      const std::string role = item.required_string("role");
      if (role != "user" && role != "assistant" && role != "system" && role != "developer")
        item.fail("role", "must be one of user, assistant, system, developer, not '" + role + "'");
      const bool assistant = role == "assistant";
      text::JsonValue content =
          message_content(item.require("content"), item.path("content"), assistant);
      text::ChatMessage* open = open_assistant();
      if (assistant && open != nullptr && open->content.is_null() && open->tool_calls.empty()) {
        open->content = std::move(content);  // the text after its reasoning item
      } else {
        out.push_back(
            {.role = text::chat_role_from(role, item.path("role")), .content = std::move(content)});
      }
    } else if (type == "function_call") {
      item.only({"type", "call_id", "name", "arguments", "id", "status", "namespace", "caller"});
      text::ChatToolCall call;
      call.id = item.required_string("call_id");
      call.name = item.required_string("name");
      call.arguments = call_arguments(item);
      call_ids.push_back(call.id);
      text::ChatMessage* open = open_assistant();
      if (open == nullptr) {
        out.push_back({.role = "assistant"});
        open = &out.back();
      }
      open->tool_calls.push_back(std::move(call));
    } else if (type == "function_call_output") {
      item.only({"type", "call_id", "output", "id", "status", "name", "namespace", "caller"});
      const std::string call_id = item.required_string("call_id");
      if (std::find(call_ids.begin(), call_ids.end(), call_id) == call_ids.end())
        item.fail("call_id", "'" + call_id + "' names no function_call item before it");
      const json& output = item.require("output");
      std::string text;
      if (output.is_string()) {
        text = output.get<std::string>();
      } else if (output.is_array()) {
        // Text parts joined: the template prints a tool's output as one response.
        for (size_t j = 0; j < output.size(); ++j) {
          Object part(output[j], at(item.path("output"), j));
          part.only({"type", "text"});
          const std::string part_type = part.required_string("type");
          if (part_type != "input_text" && part_type != "output_text")
            part.fail("type", "'" + part_type + "' is not supported (mmd reads text outputs)");
          text += part.string("text").value_or("");
        }
      } else {
        item.fail("output",
                  "must be a string or an array of input_text parts, not " + type_name(output));
      }
      out.push_back(
          {.role = "tool", .content = text::JsonValue(std::move(text)), .tool_call_id = call_id});
    } else if (type == "reasoning") {
      item.only({"type", "id", "summary", "content", "encrypted_content", "status"});
      // encrypted_content is OpenAI's own; mmd sends its reasoning as text and reads that back.
      item.string("encrypted_content");
      std::string reasoning = reasoning_text(item);
      text::ChatMessage* open = open_assistant();
      if (open != nullptr && open->content.is_null() && open->tool_calls.empty() &&
          !open->reasoning_content) {
        open->reasoning_content = std::move(reasoning);
      } else {
        out.push_back({.role = "assistant", .reasoning_content = std::move(reasoning)});
      }
    } else if (type == "item_reference") {
      item.fail("type",
                "'item_reference' is not supported: stored responses are not kept (send "
                "the items themselves)");
    } else {
      item.fail("type", "'" + type +
                            "' is not supported (mmd reads message, function_call, "
                            "function_call_output and reasoning items)");
    }
  }
  return out;
}

// Flat function tools ({"type":"function","name",...}) as the OpenAI tool objects the chat
// builder prints, keys in the order sent.
text::JsonArray function_tools(const json& tools) {
  if (!tools.is_array()) fail("tools", "must be an array, not " + type_name(tools));
  text::JsonArray out;
  std::vector<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    Object tool(tools[i], at("tools", i));
    const std::string type = tool.required_string("type");
    if (type != "function")
      tool.fail("type", "'" + type + "' is not supported (mmd serves function tools only)");
    tool.only({"type", "name", "description", "parameters", "strict"});
    const std::string name = tool.required_string("name");
    if (std::find(names.begin(), names.end(), name) != names.end())
      tool.fail("name", "'" + name + "' is the name of an earlier tool too");
    names.push_back(name);
    tool.string("description");
    tool.boolean("strict");
    if (const json* p = tool.get("parameters"); p != nullptr && !p->is_object())
      tool.fail("parameters", "must be a JSON Schema object");
    text::JsonObject function;
    for (auto it = tools[i].begin(); it != tools[i].end(); ++it) {
      if (it.key() != "type" && !it->is_null())
        function.emplace_back(it.key(), to_text_json(it.value()));
    }
    out.push_back(text::JsonValue(text::JsonObject{
        {"type", "function"}, {"function", text::JsonValue(std::move(function))}}));
  }
  return out;
}

// tool_choice: "none" | "auto" | "required" | {"type":"function","name"}.
void apply_responses_tool_choice(const json& choice, text::ChatRequest& chat) {
  try {
    if (choice.is_string()) {
      text::apply_tool_choice(to_text_json(choice), chat, "tool_choice");
      return;
    }
    Object c(choice, "tool_choice");
    const std::string type = c.required_string("type");
    if (type != "function")
      c.fail("type", "'" + type +
                         "' is not supported (\"none\", \"auto\", \"required\" or "
                         "{\"type\": \"function\", \"name\": ...})");
    c.only({"type", "name"});
    const std::string name = c.required_string("name");
    const text::JsonValue named(text::JsonObject{
        {"type", "function"}, {"function", text::JsonValue(text::JsonObject{{"name", name}})}});
    try {
      text::apply_tool_choice(named, chat, "tool_choice");
    } catch (const text::ChatRequestError&) {
      c.fail("name", "'" + name + "' is not one of the request's tools");
    }
  } catch (const text::ChatRequestError& error) {
    throw ApiError(400, error.what(), error.field());
  }
}

// text: {"format": {"type": "text" | "json_object" | "json_schema", "name", "schema", "strict",
// "description"}, "verbosity"}. Structured output goes into the ChatRequest as every chat's does
// (daemon/constraint compiles it); the schema's own errors name "text.format.schema...".
json text_config(const json& text, text::ChatRequest& chat) {
  Object t(text, "text");
  t.only({"format", "verbosity"});
  t.one_of("verbosity", {"low", "medium", "high"});
  json echo = {{"format", {{"type", "text"}}}};
  if (const json* format = t.get("format")) {
    Object f(*format, "text.format");
    const std::string type = f.required_string("type");
    if (type == "json_schema") {
      f.only({"type", "name", "schema", "strict", "description"});
      f.required_string("name");
      f.string("description");
      f.boolean("strict");
      const json& schema = f.require("schema");
      if (!schema.is_object() && !schema.is_boolean())
        f.fail("schema", "must be a JSON Schema object, not " + type_name(schema));
      chat.output.kind = text::OutputFormat::Kind::kJsonSchema;
      chat.output.schema = to_text_json(schema);
      chat.output.where = "text.format.schema";
    } else if (type == "json_object") {
      f.only({"type"});
      chat.output.kind = text::OutputFormat::Kind::kJsonObject;
      chat.output.where = "text.format";
    } else if (type == "text") {
      f.only({"type"});
    } else {
      f.fail("type", "must be \"text\", \"json_object\" or \"json_schema\", not '" + type + "'");
    }
    echo["format"] = *format;
  }
  if (const json* verbosity = t.get("verbosity")) echo["verbosity"] = *verbosity;
  return echo;
}

// String fields that change nothing in mmd's answer: accepted, type-checked, logged at debug.
constexpr std::array<std::string_view, 5> kIgnoredStrings = {
    "user", "service_tier", "prompt_cache_key", "safety_identifier", "prompt_cache_retention"};

}  // namespace

ResponsesRequest parse_responses_request(std::string_view body) {
  const json request = parse_body(body);
  Object f(request, "");
  f.only({"model",
          "input",
          "instructions",
          "tools",
          "tool_choice",
          "parallel_tool_calls",
          "max_output_tokens",
          "temperature",
          "top_p",
          "stream",
          "stream_options",
          "metadata",
          "user",
          "truncation",
          "text",
          "reasoning",
          "store",
          "previous_response_id",
          "conversation",
          "background",
          "prompt",
          "include",
          "top_logprobs",
          "service_tier",
          "prompt_cache_key",
          "safety_identifier",
          "prompt_cache_retention",
          "max_tool_calls"});
  // Stateless: nothing a previous request produced is kept.
  if (f.get("previous_response_id") != nullptr)
    f.fail("previous_response_id",
           "is not supported: stored responses are not kept (mmd is stateless and answers with "
           "store false); send the whole conversation in 'input'");
  if (f.get("conversation") != nullptr)
    f.fail("conversation",
           "is not supported: conversations are not kept (send the whole conversation in "
           "'input')");
  if (f.get("prompt") != nullptr) f.fail("prompt", "(a stored prompt template) is not supported");
  if (f.boolean("background").value_or(false))
    f.fail("background", "is not supported (responses are not kept to be fetched later)");
  if (auto truncation = f.string("truncation"); truncation && *truncation != "disabled")
    f.fail("truncation",
           "must be \"disabled\" (a too-long input is a 400), not '" + *truncation + "'");
  if (auto top = f.int32("top_logprobs"); top && *top != 0)
    f.fail("top_logprobs", "is not supported on /v1/responses");
  if (const json* include = f.get("include")) {
    if (!include->is_array()) f.fail("include", "must be an array of strings");
    for (size_t i = 0; i < include->size(); ++i) {
      const json& value = (*include)[i];
      if (!value.is_string()) fail(at("include", i), "must be a string");
      // Encrypted reasoning is OpenAI's; mmd's reasoning items carry their text instead.
      if (value.get<std::string>() != "reasoning.encrypted_content")
        fail(at("include", i), "'" + value.get<std::string>() + "' is not supported");
    }
  }

  ResponsesRequest out;
  GenerationRequest& r = out.generation;
  r.chat = true;
  text::ChatRequest& chat = r.chat_request;
  const std::optional<std::string> instructions = f.string("instructions");
  try {
    std::vector<text::ChatMessage> messages = input_messages(f.require("input"));
    if (instructions && !instructions->empty())
      chat.messages.push_back({.role = "system", .content = text::JsonValue(*instructions)});
    for (text::ChatMessage& m : messages)
      chat.messages.push_back(std::move(m));
  } catch (const text::ChatRequestError& error) {
    throw ApiError(400, error.what(), error.field());
  }
  json tools_echo = json::array();
  if (const json* tools = f.get("tools")) {
    chat.tools = function_tools(*tools);
    tools_echo = *tools;
  }
  // OpenAI's default: "auto" with tools, "none" without.
  chat.tool_choice = chat.tools.empty() ? text::ToolChoice::kNone : text::ToolChoice::kAuto;
  json tool_choice_echo = "auto";
  if (const json* choice = f.get("tool_choice")) {
    apply_responses_tool_choice(*choice, chat);
    tool_choice_echo = *choice;
  }
  try {
    // The same rules as every chat: required / named tool_choice needs tools, ...
    text::chat_tools_from_json(text::JsonValue(chat.tools));
    text::check_chat_request(chat);
  } catch (const text::ChatRequestError& error) {
    throw ApiError(400, error.what(), error.field());
  }

  ipc::SamplingOptions& s = r.sampling;
  if (auto v = f.real("temperature")) s.temperature = static_cast<float>(*v);
  if (auto v = f.real("top_p")) s.top_p = static_cast<float>(*v);
  if (auto v = f.int32("max_output_tokens")) s.max_tokens = *v;
  if (auto model = f.string("model")) r.model = *model;
  r.stream = f.boolean("stream").value_or(false);
  if (const json* options = f.get("stream_options")) {
    Object o(*options, "stream_options");
    o.only({"include_obfuscation"});
    o.boolean("include_obfuscation");  // obfuscation pads against side channels; none here
    if (!r.stream) f.fail("stream_options", "is only allowed with \"stream\": true");
  }
  const bool parallel = f.boolean("parallel_tool_calls").value_or(true);
  // store: accepted either way and reported false (nothing is kept).
  f.boolean("store");
  json metadata = json::object();
  if (const json* m = f.get("metadata")) {
    if (!m->is_object()) f.fail("metadata", "must be an object of strings");
    for (auto it = m->begin(); it != m->end(); ++it) {
      if (!it->is_string()) fail("metadata." + it.key(), "must be a string");
    }
    metadata = *m;
  }
  json reasoning = {{"effort", nullptr}, {"summary", nullptr}};
  if (const json* value = f.get("reasoning")) {
    Object o(*value, "reasoning");
    o.only({"effort", "summary", "generate_summary", "context"});
    // MiniMax-M2 always thinks; the effort is accepted and repeated, not acted on.
    if (auto effort = o.one_of("effort", {"none", "minimal", "low", "medium", "high", "xhigh"}))
      reasoning["effort"] = *effort;
    if (auto summary = o.one_of("summary", {"auto", "concise", "detailed"}))
      reasoning["summary"] = *summary;
    o.one_of("generate_summary", {"auto", "concise", "detailed"});
  }
  json text = {{"format", {{"type", "text"}}}};
  if (const json* value = f.get("text")) text = text_config(*value, chat);
  for (std::string_view name : kIgnoredStrings) {
    if (f.string(std::string(name))) r.ignored_fields.emplace_back(name);
  }
  // A cap on built-in tool calls (web search, ...), which mmd has none of.
  if (f.int32("max_tool_calls")) r.ignored_fields.emplace_back("max_tool_calls");

  json& echo = out.echo;
  echo["instructions"] = instructions ? json(*instructions) : json(nullptr);
  echo["max_output_tokens"] = s.max_tokens ? json(*s.max_tokens) : json(nullptr);
  echo["metadata"] = metadata;
  echo["parallel_tool_calls"] = parallel;
  echo["previous_response_id"] = nullptr;
  echo["reasoning"] = reasoning;
  echo["store"] = false;
  echo["temperature"] = f.get("temperature") != nullptr ? *f.get("temperature") : json(nullptr);
  echo["text"] = text;
  echo["tool_choice"] = tool_choice_echo;
  echo["tools"] = tools_echo;
  echo["top_p"] = f.get("top_p") != nullptr ? *f.get("top_p") : json(nullptr);
  echo["truncation"] = "disabled";
  echo["user"] = f.get("user") != nullptr ? *f.get("user") : json(nullptr);
  return out;
}

}  // namespace mm::http
