#include "daemon/text/chat_template.h"

#include "daemon/text/error.h"

namespace mm::text {
namespace {

// transformers' _alias_reasoning_fields: when a message carries reasoning under any of
// reasoning_content / thinking / reasoning, the template sees
// {"thinking": r, **message, "reasoning_content": r}.
JsonValue alias_reasoning(const JsonValue& message) {
  const JsonValue* reasoning = nullptr;
  for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
    const JsonValue* v = message.find(key);
    if (v != nullptr && !v->is_null()) {
      reasoning = v;
      break;
    }
  }
  if (reasoning == nullptr) return message;
  JsonObject out;
  out.emplace_back("thinking", *reasoning);
  auto put = [&out](const std::string& key, const JsonValue& value) {
    for (auto& [k, v] : out) {
      if (k == key) {
        v = value;
        return;
      }
    }
    out.emplace_back(key, value);
  };
  for (const auto& [key, value] : message.as_object())
    put(key, value);
  put("reasoning_content", *reasoning);
  return JsonValue(std::move(out));
}

}  // namespace

ChatTemplate ChatTemplate::from_source(std::string_view source, std::string name) {
  return ChatTemplate(JinjaTemplate::parse(source, std::move(name)));
}

ChatTemplate ChatTemplate::minimax_m2() {
  return from_source(minimax_m2_default_template(), "minimax_m2.jinja");
}

std::string ChatTemplate::render(const ChatTemplateInputs& inputs) const {
  if (!inputs.messages.is_array())
    throw TextError("chat template inputs: messages must be an array");
  JsonArray messages;
  size_t index = 0;
  for (const JsonValue& message : inputs.messages.as_array()) {
    if (!message.is_object()) {
      throw TextError("chat template inputs: messages[" + std::to_string(index) +
                      "] is not an object");
    }
    messages.push_back(alias_reasoning(message));
    ++index;
  }
  JsonObject variables;
  variables.emplace_back("messages", JsonValue(std::move(messages)));
  variables.emplace_back("tools", inputs.tools);
  variables.emplace_back("documents", JsonValue());
  variables.emplace_back("add_generation_prompt", JsonValue(inputs.add_generation_prompt));
  for (const auto& [key, value] : inputs.extra) {
    bool replaced = false;
    for (auto& [k, v] : variables) {
      if (k == key) {
        v = value;
        replaced = true;
      }
    }
    if (!replaced) variables.emplace_back(key, value);
  }
  return template_.render(variables);
}

}  // namespace mm::text
