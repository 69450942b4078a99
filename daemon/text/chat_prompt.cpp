#include "daemon/text/chat_prompt.h"

#include "daemon/text/error.h"

namespace mm::text {
namespace {

JsonValue template_message(const ChatMessage& message) {
  JsonObject out;
  out.emplace_back("role", message.role);
  // A null content is left out, as transformers drops None-valued keys: the template sees it
  // undefined (jinja2 would print a None as "None").
  if (!message.content.is_null()) out.emplace_back("content", message.content);
  if (message.reasoning_content) out.emplace_back("reasoning_content", *message.reasoning_content);
  if (!message.tool_calls.empty()) {
    JsonArray calls;
    calls.reserve(message.tool_calls.size());
    for (const ChatToolCall& call : message.tool_calls) {
      JsonObject function{{"name", call.name}, {"arguments", call.arguments}};
      JsonObject item;
      if (!call.id.empty()) item.emplace_back("id", call.id);
      item.emplace_back("type", "function");
      item.emplace_back("function", JsonValue(std::move(function)));
      calls.emplace_back(std::move(item));
    }
    out.emplace_back("tool_calls", JsonValue(std::move(calls)));
  }
  if (!message.tool_call_id.empty()) out.emplace_back("tool_call_id", message.tool_call_id);
  if (!message.name.empty()) out.emplace_back("name", message.name);
  return JsonValue(std::move(out));
}

// The text transformers continues from: the final message's content (its last text part).
std::string final_text(const ChatMessage& message) {
  if (message.content.is_string()) return message.content.as_string();
  if (message.content.is_array()) {
    const JsonArray& parts = message.content.as_array();
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (const JsonValue* text = it->find("text"); text != nullptr && text->is_string())
        return text->as_string();
    }
  }
  throw ChatRequestError("continue_final_message", "the final message has no text to continue");
}

std::string_view strip(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\n\r\f\v");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t\n\r\f\v");
  return s.substr(begin, end - begin + 1);
}

std::string_view lstrip(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\n\r\f\v");
  return begin == std::string_view::npos ? std::string_view() : s.substr(begin);
}

// transformers' continue_final_message: cut the rendering right after the final message's text,
// so the model goes on writing it. Where the template trimmed the text's trailing space, the cut
// follows the stripped text.
void cut_after_final_message(std::string& rendered, const std::string& final_message) {
  const std::string_view stripped = strip(final_message);
  const size_t location = rendered.rfind(stripped);
  if (stripped.empty() || location == std::string::npos)
    throw ChatRequestError("continue_final_message",
                           "the final message does not appear in the rendered chat (the template "
                           "does not print it as sent)");
  const std::string_view left = lstrip(final_message);
  if (std::string_view(rendered).substr(location, left.size()) == final_message) {
    rendered.resize(location + left.size());
  } else {
    rendered.resize(location + stripped.size());
  }
}

}  // namespace

ChatTemplateInputs chat_template_inputs(const ChatRequest& request) {
  ChatTemplateInputs inputs;
  JsonArray messages;
  messages.reserve(request.messages.size());
  for (const ChatMessage& message : request.messages)
    messages.push_back(template_message(message));
  inputs.messages = JsonValue(std::move(messages));
  // tool_choice none: the model is not shown tools it may not call.
  if (!request.tools.empty() && request.tool_choice != ToolChoice::kNone)
    inputs.tools = JsonValue(request.tools);
  inputs.add_generation_prompt = request.add_generation_prompt;
  inputs.extra = request.template_kwargs;
  return inputs;
}

std::string forced_tool_opening(const ChatRequest& request) {
  switch (request.tool_choice) {
    case ToolChoice::kRequired:
      return "</think>\n\n<minimax:tool_call>\n<invoke name=\"";
    case ToolChoice::kNamed:
      return "</think>\n\n<minimax:tool_call>\n<invoke name=\"" + request.tool_choice_name +
             "\">\n";
    case ToolChoice::kNone:
    case ToolChoice::kAuto:
      break;
  }
  return {};
}

ChatPrompt build_chat_prompt(const ChatTemplate& chat_template, const Tokenizer& tokenizer,
                             const ChatRequest& request) {
  check_chat_request(request);
  ChatPrompt prompt;
  try {
    prompt.text = chat_template.render(chat_template_inputs(request));
  } catch (const TextError& error) {
    throw ChatRequestError("messages",
                           std::string("are refused by the chat template: ") + error.what());
  }
  if (request.continue_final_message)
    cut_after_final_message(prompt.text, final_text(request.messages.back()));
  prompt.forced_opening = forced_tool_opening(request);
  prompt.text += prompt.forced_opening;
  // One encode of the whole text: ids at the join are the ones Hugging Face would produce.
  prompt.token_ids = tokenizer.encode(prompt.text);
  return prompt;
}

}  // namespace mm::text
