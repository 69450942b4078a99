// The one native form of a chat request that every frontend builds from its wire format (HTTP
// JSON body, shm msgpack Submit, D-Bus messages_json + options) and that one builder
// (chat_prompt.h) turns into prompt tokens. Reading OpenAI-shaped JSON into it is here too, so the
// three frontends validate messages, tool calls, tools and tool_choice with the same rules and the
// same field paths in their errors. JSON trees keep their key order end to end.
// Thread-safe: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/text/json_value.h"

namespace mm::text {

// A request field that is wrong; `field()` is its path ("messages[2].tool_calls[0].function").
class ChatRequestError : public std::invalid_argument {
 public:
  ChatRequestError(std::string field, const std::string& what)
      : std::invalid_argument("'" + field + "' " + what), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

enum class ToolChoice : uint8_t { kNone, kAuto, kRequired, kNamed };

struct ChatToolCall {
  std::string id;
  std::string name;
  JsonValue arguments = JsonValue(JsonObject{});  // always an object (text arguments parsed)
};

struct ChatMessage {
  std::string role;   // system, user, assistant, tool ("developer" arrives as system)
  JsonValue content;  // null, a string, or an array of {"type":"text","text":...} parts
  std::optional<std::string> reasoning_content;
  std::vector<ChatToolCall> tool_calls;  // assistant only
  std::string tool_call_id;              // tool only
  std::string name;
};

// What the answer's content must be (response_format, vLLM's guided_* / structured_outputs),
// compiled to a token constraint by daemon/constraint. kText: free text.
struct OutputFormat {
  enum class Kind : uint8_t { kText, kJsonObject, kJsonSchema, kRegex, kChoice };
  Kind kind = Kind::kText;
  JsonValue schema;                  // kJsonSchema
  std::string regex;                 // kRegex
  std::vector<std::string> choices;  // kChoice
  std::string where;                 // the request field ("response_format.json_schema.schema")
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  JsonArray tools;  // OpenAI tool objects as sent, in order, keys unsorted
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_choice_name;  // kNamed
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  JsonObject template_kwargs;  // chat_template_kwargs: extra template variables
  OutputFormat output;         // structured output of the answer
};

// `messages`: a non-empty array of OpenAI chat messages. Throws ChatRequestError naming the field
// (paths start at `where`, "messages" by default).
std::vector<ChatMessage> chat_messages_from_json(const JsonValue& messages,
                                                 const std::string& where = "messages");
// A message's role as the template sees it: one of system, developer (read as system), user,
// assistant, tool. Throws ChatRequestError naming `where` otherwise.
std::string chat_role_from(const std::string& role, const std::string& where);
// One assistant message's `tool_calls`: an array of {"id","type","function":{"name",
// "arguments"}} (arguments an object or its JSON text). `where` is the field's path.
std::vector<ChatToolCall> chat_tool_calls_from_json(const JsonValue& calls,
                                                    const std::string& where);
// A message's `content`: null, a string, or an array of text parts. Returns it unchanged.
JsonValue chat_content_from_json(const JsonValue& content, const std::string& where);
// `tools`: an array of {"type":"function","function":{"name",...}}; returned as sent.
JsonArray chat_tools_from_json(const JsonValue& tools, const std::string& where = "tools");
// `tool_choice`: "none" | "auto" | "required" | {"type":"function","function":{"name"}}; the
// named tool must be one of `request.tools`. Sets request.tool_choice (and _name).
void apply_tool_choice(const JsonValue& choice, ChatRequest& request,
                       const std::string& where = "tool_choice");
// `chat_template_kwargs`: an object; keys the builder sets itself are refused.
JsonObject chat_template_kwargs_from_json(const JsonValue& kwargs,
                                          const std::string& where = "chat_template_kwargs");
// Checks what no single field can: tools present for required/named, a final message to continue,
// continue_final_message without add_generation_prompt. Throws ChatRequestError.
void check_chat_request(const ChatRequest& request);

// Bytes of text a chat carries into its prompt: contents, reasoning, tool-call arguments, tools.
size_t chat_text_bytes(const ChatRequest& request);

// The tool named by a tool object ("" when it has none).
std::string tool_name(const JsonValue& tool);

}  // namespace mm::text
