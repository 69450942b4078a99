// The one prompt builder: a ChatRequest becomes the template's inputs, the rendered text (with
// continue_final_message applied as transformers applies it, and the opening the daemon writes for
// a forced tool call), and its token ids. Every frontend's chat goes through build_chat_prompt.
// Thread-safe: pure functions over immutable values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/text/chat_request.h"
#include "daemon/text/chat_template.h"
#include "daemon/text/tokenizer.h"

namespace mm::text {

struct ChatPrompt {
  std::string text;                // what was tokenized
  std::vector<int32_t> token_ids;  // prompt ids (the template writes BOS itself)
  // The opening the daemon wrote on the model's behalf (a forced tool call), to be run through
  // the output parsers before the first generated token. Empty when none.
  std::string forced_opening;
};

// The template's `messages`, `tools` and extra variables for `request`.
ChatTemplateInputs chat_template_inputs(const ChatRequest& request);

// `</think>` and a tool-call block opened (and named) for tool_choice required / named; "" else.
std::string forced_tool_opening(const ChatRequest& request);

// Renders and tokenizes. Throws ChatRequestError for a request the template or the request's own
// rules refuse (raise_exception in the template, a final message that cannot be continued).
ChatPrompt build_chat_prompt(const ChatTemplate& chat_template, const Tokenizer& tokenizer,
                             const ChatRequest& request);

}  // namespace mm::text
