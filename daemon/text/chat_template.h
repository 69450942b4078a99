// Hugging Face-style chat template rendering: messages, tools, add_generation_prompt and extra
// keyword arguments become template variables exactly as transformers' render_jinja_template
// passes them (reasoning fields aliased, documents = none). Thread-safe: immutable after creation.
#pragma once

#include <string>
#include <string_view>

#include "daemon/text/jinja/template.h"
#include "daemon/text/json_value.h"

namespace mm::text {

struct ChatTemplateInputs {
  JsonValue messages = JsonValue(JsonArray{});  // array of message objects
  JsonValue tools;                              // array of OpenAI-style tools, or null
  bool add_generation_prompt = false;
  JsonObject extra;  // e.g. {"enable_thinking": false}
};

class ChatTemplate {
 public:
  // Throws TextError "NAME:LINE:COLUMN: ..." for syntax the engine does not support.
  static ChatTemplate from_source(std::string_view source, std::string name);
  // The MiniMax-M2 template compiled into the library (for checkpoints that ship none).
  static ChatTemplate minimax_m2();

  // Throws TextError for template errors, including raise_exception(...) from the template; and
  // when a message is not an object.
  std::string render(const ChatTemplateInputs& inputs) const;

 private:
  explicit ChatTemplate(JinjaTemplate tmpl) : template_(std::move(tmpl)) {}
  JinjaTemplate template_;
};

// Bytes of default_templates/minimax_m2.jinja (generated at build time).
std::string_view minimax_m2_default_template();

}  // namespace mm::text
