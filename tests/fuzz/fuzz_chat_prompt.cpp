// The prompt builder's inputs as a frontend reads them: the input is up to five NUL-separated
// parts, JSON for messages, tools, tool_choice and chat_template_kwargs (an empty part: the field
// is absent), then a flags byte (bit 0: add_generation_prompt false, bit 1:
// continue_final_message). Read through the text::chat_* readers and, when they accept it,
// rendered with text::build_chat_prompt on the MiniMax-M2 template and the bundled tokenizer.
// Only ChatRequestError may escape (JSON that does not parse is TextError, and uninteresting);
// an accepted prompt's ids must stand for exactly its text, which ends with the forced opening.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/text/chat_prompt.h"
#include "daemon/text/chat_request.h"
#include "daemon/text/chat_template.h"
#include "daemon/text/error.h"
#include "daemon/text/json_value.h"
#include "daemon/text/tokenizer.h"

namespace {

using mm::text::JsonValue;

std::vector<std::string_view> split_parts(std::string_view input) {
  std::vector<std::string_view> parts;
  while (parts.size() < 4) {
    const size_t nul = input.find('\0');
    parts.push_back(input.substr(0, nul));
    if (nul == std::string_view::npos) return parts;
    input.remove_prefix(nul + 1);
  }
  parts.push_back(input);  // the flags
  return parts;
}

// nullopt: the part is absent; throws TextError when it is not JSON.
std::optional<JsonValue> json_part(const std::vector<std::string_view>& parts, size_t i) {
  if (i >= parts.size() || parts[i].empty()) return std::nullopt;
  return JsonValue::parse(parts[i], "fuzz");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 32 * 1024) return 0;
  static const mm::text::ChatTemplate kTemplate = mm::text::ChatTemplate::minimax_m2();
  static const mm::text::Tokenizer kTokenizer = mm::text::Tokenizer::from_file(MMD_TOKENIZER_JSON);
  const std::vector<std::string_view> parts =
      split_parts(std::string_view(reinterpret_cast<const char*>(data), size));
  std::optional<JsonValue> messages, tools, tool_choice, kwargs;
  try {
    messages = json_part(parts, 0);
    tools = json_part(parts, 1);
    tool_choice = json_part(parts, 2);
    kwargs = json_part(parts, 3);
  } catch (const mm::text::TextError&) {
    return 0;
  }
  if (!messages) return 0;
  const uint8_t flags =
      parts.size() > 4 && !parts[4].empty() ? static_cast<uint8_t>(parts[4][0]) : 0;

  // The order and defaults of the HTTP frontend (parse_chat_fields).
  mm::text::ChatRequest request;
  mm::text::ChatPrompt prompt;
  try {
    request.messages = mm::text::chat_messages_from_json(*messages);
    if (tools) request.tools = mm::text::chat_tools_from_json(*tools);
    request.tool_choice =
        request.tools.empty() ? mm::text::ToolChoice::kNone : mm::text::ToolChoice::kAuto;
    if (tool_choice) mm::text::apply_tool_choice(*tool_choice, request);
    request.add_generation_prompt = (flags & 1) == 0;
    request.continue_final_message = (flags & 2) != 0;
    if (kwargs) request.template_kwargs = mm::text::chat_template_kwargs_from_json(*kwargs);
    mm::text::check_chat_request(request);
    prompt = mm::text::build_chat_prompt(kTemplate, kTokenizer, request);
  } catch (const mm::text::ChatRequestError& error) {
    if (error.field().empty()) std::abort();  // every refusal names its field
    return 0;
  }
  if (prompt.token_ids.empty()) std::abort();
  if (prompt.text.size() < prompt.forced_opening.size() ||
      prompt.text.compare(prompt.text.size() - prompt.forced_opening.size(),
                          prompt.forced_opening.size(), prompt.forced_opening) != 0)
    std::abort();
  // Byte-level BPE without a normalizer: the ids decode to exactly the rendered text.
  if (kTokenizer.decode_bytes(prompt.token_ids) != prompt.text) std::abort();
  return 0;
}
