#include "daemon/text/chat_request.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "daemon/text/error.h"

namespace mm::text {
namespace {

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

// One JSON object's members, read by name; `where` is the object's path. A null member counts as
// absent: OpenAI clients send null for "not set".
class Members {
 public:
  Members(const JsonValue& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object())
      throw ChatRequestError(where_, "must be an object, not " + type_name(object_));
  }

  std::string path(std::string_view key) const { return where_ + "." + std::string(key); }
  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    throw ChatRequestError(path(key), what);
  }
  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : object_.as_object()) {
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw ChatRequestError(path(key), "is not a known field");
    }
  }
  const JsonValue* get(std::string_view key) const {
    const JsonValue* value = object_.find(key);
    return value == nullptr || value->is_null() ? nullptr : value;
  }
  std::optional<std::string> string(std::string_view key) const {
    const JsonValue* value = get(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) fail(key, "must be a string, not " + type_name(*value));
    return value->as_string();
  }

 private:
  const JsonValue& object_;
  std::string where_;
};

std::string at(const std::string& where, size_t index) {
  return where + "[" + std::to_string(index) + "]";
}

constexpr std::array<std::string_view, 5> kRoles = {"system", "developer", "user", "assistant",
                                                    "tool"};

}  // namespace

namespace {

size_t json_text_bytes(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::Type::kString:
      return value.as_string().size();
    case JsonValue::Type::kArray: {
      size_t n = 0;
      for (const JsonValue& item : value.as_array())
        n += json_text_bytes(item);
      return n;
    }
    case JsonValue::Type::kObject: {
      size_t n = 0;
      for (const auto& [key, item] : value.as_object())
        n += key.size() + json_text_bytes(item);
      return n;
    }
    default:
      return 8;  // a number, a boolean, null: a few bytes
  }
}

}  // namespace

size_t chat_text_bytes(const ChatRequest& request) {
  size_t n = 0;
  for (const ChatMessage& m : request.messages) {
    n += json_text_bytes(m.content) + m.reasoning_content.value_or("").size();
    for (const ChatToolCall& call : m.tool_calls)
      n += call.name.size() + json_text_bytes(call.arguments);
  }
  for (const JsonValue& tool : request.tools)
    n += json_text_bytes(tool);
  return n;
}

std::string chat_role_from(const std::string& role, const std::string& where) {
  if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end())
    throw ChatRequestError(where,
                           "'" + role + "' is not one of system, developer, user, assistant, tool");
  // OpenAI's developer messages are its system messages under a newer name.
  return role == "developer" ? "system" : role;
}

std::string tool_name(const JsonValue& tool) {
  const JsonValue* function = tool.find("function");
  const JsonValue* name = (function != nullptr ? *function : tool).find("name");
  return name != nullptr && name->is_string() ? name->as_string() : std::string();
}

JsonValue chat_content_from_json(const JsonValue& content, const std::string& where) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array())
    throw ChatRequestError(where,
                           "must be a string or an array of text parts, not " + type_name(content));
  const JsonArray& parts = content.as_array();
  for (size_t j = 0; j < parts.size(); ++j) {
    Members part(parts[j], at(where, j));
    part.only({"type", "text", "cache_control"});
    const std::string type = part.string("type").value_or("text");
    if (type != "text")
      part.fail("type", "'" + type + "' is not supported (mmd's models read text parts only)");
    if (!part.string("text")) part.fail("text", "is required");
  }
  return content;
}

std::vector<ChatToolCall> chat_tool_calls_from_json(const JsonValue& calls,
                                                    const std::string& where) {
  if (!calls.is_array())
    throw ChatRequestError(where, "must be an array of tool calls, not " + type_name(calls));
  std::vector<ChatToolCall> out;
  const JsonArray& items = calls.as_array();
  for (size_t j = 0; j < items.size(); ++j) {
    const std::string call_at = at(where, j);
    Members call(items[j], call_at);
    call.only({"id", "type", "function", "index"});
    if (call.string("type").value_or("function") != "function")
      call.fail("type", "must be \"function\"");
    const JsonValue* function_value = call.get("function");
    if (function_value == nullptr) call.fail("function", "is required");
    Members function(*function_value, call.path("function"));
    function.only({"name", "arguments"});
    ChatToolCall parsed;
    parsed.id = call.string("id").value_or("");
    parsed.name = function.string("name").value_or("");
    if (parsed.name.empty()) function.fail("name", "is required");
    const JsonValue* args = function.get("arguments");
    // The template iterates the arguments: without them it fails, so say which field.
    if (args == nullptr) function.fail("arguments", "is required (send \"{}\" for none)");
    {
      if (args->is_string()) {
        // OpenAI clients send the arguments as JSON text; the template iterates a mapping.
        const std::string& text = args->as_string();
        if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
          try {
            parsed.arguments = JsonValue::parse(text, function.path("arguments"));
          } catch (const TextError& error) {
            function.fail("arguments", std::string("is not valid JSON: ") + error.what());
          }
        }
      } else {
        parsed.arguments = *args;
      }
      if (!parsed.arguments.is_object())
        function.fail("arguments",
                      "must be a JSON object (or its text), not " + type_name(parsed.arguments));
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

std::vector<ChatMessage> chat_messages_from_json(const JsonValue& messages,
                                                 const std::string& where) {
  if (!messages.is_array() || messages.as_array().empty())
    throw ChatRequestError(where, "must be a non-empty array of messages");
  std::vector<ChatMessage> out;
  const JsonArray& items = messages.as_array();
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    Members m(items[i], at(where, i));
    // The openai client sends back every field a response had, as null when unset
    // (refusal, annotations, audio, function_call): accepted; annotations are ignored.
    m.only({"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content",
            "reasoning", "refusal", "function_call", "audio", "annotations"});
    ChatMessage message;
    const std::string role = m.string("role").value_or("");
    if (role.empty()) m.fail("role", "is required");
    message.role = chat_role_from(role, m.path("role"));
    if (m.get("function_call") != nullptr)
      m.fail("function_call", "(the deprecated single call) is not supported; send tool_calls");
    if (m.get("audio") != nullptr) m.fail("audio", "is not supported");
    if (const JsonValue* content = items[i].find("content"))
      message.content = chat_content_from_json(*content, m.path("content"));
    message.name = m.string("name").value_or("");
    if (auto reasoning = m.string("reasoning_content")) {
      message.reasoning_content = std::move(reasoning);
    } else if (auto alias = m.string("reasoning")) {
      message.reasoning_content = std::move(alias);
    }
    if (const JsonValue* calls = m.get("tool_calls")) {
      if (message.role != "assistant")
        m.fail("tool_calls", "is only allowed on assistant messages");
      message.tool_calls = chat_tool_calls_from_json(*calls, m.path("tool_calls"));
    }
    if (auto id = m.string("tool_call_id")) {
      if (message.role != "tool") m.fail("tool_call_id", "is only allowed on tool messages");
      message.tool_call_id = std::move(*id);
    }
    m.string("refusal");
    out.push_back(std::move(message));
  }
  return out;
}

JsonArray chat_tools_from_json(const JsonValue& tools, const std::string& where) {
  if (!tools.is_array()) throw ChatRequestError(where, "must be an array, not " + type_name(tools));
  const JsonArray& items = tools.as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    Members tool(items[i], at(where, i));
    tool.only({"type", "function"});
    if (tool.string("type").value_or("function") != "function")
      tool.fail("type", "must be \"function\"");
    const JsonValue* function_value = tool.get("function");
    if (function_value == nullptr) tool.fail("function", "is required");
    Members function(*function_value, tool.path("function"));
    function.only({"name", "description", "parameters", "strict"});
    if (function.string("name").value_or("").empty()) function.fail("name", "is required");
    function.string("description");
    if (const JsonValue* strict = function.get("strict"); strict != nullptr && !strict->is_bool())
      function.fail("strict", "must be a boolean");
    if (const JsonValue* p = function.get("parameters"); p != nullptr && !p->is_object())
      function.fail("parameters", "must be a JSON Schema object");
    for (size_t k = 0; k < i; ++k) {
      if (tool_name(items[k]) == tool_name(items[i]))
        function.fail("name", "'" + tool_name(items[i]) + "' is also the name of " + at(where, k));
    }
  }
  return items;
}

void apply_tool_choice(const JsonValue& choice, ChatRequest& request, const std::string& where) {
  if (choice.is_null()) return;
  if (choice.is_string()) {
    const std::string& mode = choice.as_string();
    if (mode == "none") {
      request.tool_choice = ToolChoice::kNone;
    } else if (mode == "auto") {
      request.tool_choice = ToolChoice::kAuto;
    } else if (mode == "required") {
      request.tool_choice = ToolChoice::kRequired;
    } else {
      throw ChatRequestError(
          where,
          "must be \"none\", \"auto\", \"required\" or a named function, not '" + mode + "'");
    }
    return;
  }
  Members c(choice, where);
  c.only({"type", "function"});
  if (c.string("type").value_or("function") != "function") c.fail("type", "must be \"function\"");
  const JsonValue* function_value = c.get("function");
  if (function_value == nullptr) c.fail("function", "is required");
  Members function(*function_value, c.path("function"));
  function.only({"name"});
  const std::string name = function.string("name").value_or("");
  if (name.empty()) function.fail("name", "is required");
  const bool known = std::any_of(request.tools.begin(), request.tools.end(),
                                 [&](const JsonValue& tool) { return tool_name(tool) == name; });
  if (!known) function.fail("name", "'" + name + "' is not one of the request's tools");
  request.tool_choice = ToolChoice::kNamed;
  request.tool_choice_name = name;
}

JsonObject chat_template_kwargs_from_json(const JsonValue& kwargs, const std::string& where) {
  if (kwargs.is_null()) return {};
  if (!kwargs.is_object())
    throw ChatRequestError(where, "must be an object, not " + type_name(kwargs));
  // The builder sets these from the request's own fields; a second source would be ambiguous.
  static constexpr std::array<std::string_view, 5> kReserved = {
      "messages", "tools", "add_generation_prompt", "continue_final_message", "documents"};
  for (const auto& [key, value] : kwargs.as_object()) {
    if (std::find(kReserved.begin(), kReserved.end(), key) != kReserved.end())
      throw ChatRequestError(where + "." + key,
                             "is set by the request itself, not a template kwarg");
  }
  return kwargs.as_object();
}

void check_chat_request(const ChatRequest& request) {
  if (request.messages.empty()) throw ChatRequestError("messages", "must not be empty");
  if ((request.tool_choice == ToolChoice::kRequired || request.tool_choice == ToolChoice::kNamed) &&
      request.tools.empty())
    throw ChatRequestError("tool_choice", "needs \"tools\"");
  if (request.continue_final_message) {
    if (request.add_generation_prompt)
      throw ChatRequestError("continue_final_message",
                             "cannot be combined with add_generation_prompt (set it to false)");
    if (request.messages.back().role != "assistant")
      throw ChatRequestError("continue_final_message", "needs a final assistant message");
    if (request.tool_choice == ToolChoice::kRequired || request.tool_choice == ToolChoice::kNamed)
      throw ChatRequestError("continue_final_message",
                             "cannot be combined with a required or named tool_choice");
  }
}

}  // namespace mm::text
