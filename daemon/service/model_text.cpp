#include "daemon/service/model_text.h"

#include <algorithm>
#include <stdexcept>

#include "daemon/service/model_text_files.h"
#include "daemon/text/chat_prompt.h"
#include "daemon/text/detokenizer.h"
#include "daemon/text/error.h"
#include "daemon/text/markers.h"
#include "daemon/text/tool_call_parser.h"
#include "daemon/text/tool_schema.h"

namespace mm {
namespace {

// One request's output: detokenizer, then (for chats) the reasoning parser, then the tool-call
// parser on the content.
class ModelTextStream : public TextStream {
 public:
  // `hidden_ids` (the end-of-message marker) end a request and are never shown as text.
  ModelTextStream(const text::Tokenizer& tokenizer, const TextStreamOptions& options,
                  std::optional<text::ReasoningMode> reasoning,
                  std::optional<std::vector<text::ToolSchema>> tools,
                  std::vector<int32_t> hidden_ids)
      : hidden_ids_(std::move(hidden_ids)),
        detokenizer_(tokenizer, text::DetokenizerOptions{
                                    .skip_special_tokens = options.skip_special_tokens,
                                    .stop_strings = options.stop,
                                    .include_stop_string = options.include_stop_str_in_output}) {
    if (reasoning) reasoning_.emplace(*reasoning);
    if (tools) tool_calls_.emplace(std::move(*tools));
  }

  void push(std::span<const int32_t> token_ids, ipc::Delta& out) override {
    std::string text;
    for (int32_t id : token_ids) {
      if (detokenizer_.stopped()) break;
      if (is_hidden(id)) continue;
      text += detokenizer_.push(id);
    }
    route(text, false, out);
  }

  void finish(ipc::Delta& out) override { route(detokenizer_.finish(), true, out); }

  bool stop_matched() const override { return detokenizer_.stopped(); }
  std::optional<size_t> matched_stop() const override { return detokenizer_.matched_stop(); }

  void prime(const std::string& text, ipc::Delta& out) override { route(text, false, out); }

 private:
  void route(const std::string& text, bool final, ipc::Delta& out) {
    std::string content = text;
    if (reasoning_) {
      text::ReasoningDelta delta = reasoning_->push(text);
      if (final) {
        text::ReasoningDelta tail = reasoning_->finish();
        delta.reasoning += tail.reasoning;
        delta.content += tail.content;
      }
      out.reasoning += delta.reasoning;
      content = std::move(delta.content);
    }
    if (!tool_calls_) {
      out.text += content;
      return;
    }
    std::vector<text::ToolCallEvent> events = tool_calls_->push(content);
    if (final) {
      for (auto& event : tool_calls_->finish())
        events.push_back(std::move(event));
    }
    for (const text::ToolCallEvent& event : events) {
      switch (event.kind) {
        case text::ToolCallEvent::Kind::kContent:
          out.text += event.text;
          break;
        case text::ToolCallEvent::Kind::kStart:
          out.tool_calls.push_back({event.index, event.id, event.text, ""});
          break;
        case text::ToolCallEvent::Kind::kArguments:
          out.tool_calls.push_back({event.index, "", "", event.text});
          break;
        case text::ToolCallEvent::Kind::kEnd:
        case text::ToolCallEvent::Kind::kAborted:
          break;  // an aborted call's text is content
      }
    }
  }

  bool is_hidden(int32_t id) const {
    return std::find(hidden_ids_.begin(), hidden_ids_.end(), id) != hidden_ids_.end();
  }

  std::vector<int32_t> hidden_ids_;
  text::StreamingDetokenizer detokenizer_;
  std::optional<text::ReasoningParser> reasoning_;
  std::optional<text::ToolCallParser> tool_calls_;
};

}  // namespace

ModelText::ModelText(const ModelTextOptions& options)
    : options_(options), tokenizer_(load_model_tokenizer(options.model)) {
  LoadedChatTemplate loaded = load_model_chat_template(options.model, options.chat_template_file);
  template_.emplace(std::move(loaded.chat_template));
  template_origin_ = std::move(loaded.origin);
  parse_reasoning_ = !options.reasoning_parser.empty();
  reasoning_mode_ = options.reasoning_parser == "minimax_m2_append_think"
                        ? text::ReasoningMode::kAppendThink
                        : text::ReasoningMode::kSplit;
}

std::optional<int32_t> ModelText::end_of_message_id() const {
  return tokenizer_.token_to_id("[e~[");
}

std::vector<int32_t> ModelText::hidden_ids() const {
  std::vector<int32_t> out;
  if (auto id = end_of_message_id()) out.push_back(*id);
  return out;
}

std::vector<int32_t> ModelText::encode_prompt(const std::string& prompt) {
  check_prompt_bytes(prompt.size(), "prompt");
  return tokenizer_.encode(prompt);
}

void ModelText::check_prompt_bytes(size_t bytes, const std::string& field) const {
  if (options_.max_prompt_bytes > 0 && bytes > options_.max_prompt_bytes)
    throw text::ChatRequestError(
        field, "holds " + std::to_string(bytes) + " bytes of text; at most " +
                   std::to_string(options_.max_prompt_bytes) + " are taken (--max-prompt-bytes)");
}

text::ChatPrompt ModelText::render_chat(const text::ChatRequest& request) {
  return build_prompt(request);
}

text::ChatPrompt ModelText::build_prompt(const text::ChatRequest& request) const {
  check_prompt_bytes(text::chat_text_bytes(request), "messages");
  if (!request.tools.empty() && request.tool_choice != text::ToolChoice::kNone &&
      !options_.enable_auto_tool_choice)
    throw text::ChatRequestError("tool_choice",
                                 "needs mmd to run with --enable-auto-tool-choice (the minimax_m2 "
                                 "tool-call parser); send \"none\" to offer no tools");
  return text::build_chat_prompt(*template_, tokenizer_, request);
}

std::unique_ptr<TextStream> ModelText::open_stream(const TextStreamOptions& options) {
  std::optional<text::ReasoningMode> reasoning;
  std::optional<std::vector<text::ToolSchema>> tools;
  const text::ChatRequest* chat = options.chat;
  if (chat != nullptr && parse_reasoning_) reasoning = reasoning_mode_;
  if (chat != nullptr && options_.enable_auto_tool_choice && !chat->tools.empty() &&
      chat->tool_choice != text::ToolChoice::kNone) {
    try {
      tools = text::tools_from_json(text::JsonValue(chat->tools));
    } catch (const text::TextError& error) {
      throw std::invalid_argument(error.what());
    }
  }
  return std::make_unique<ModelTextStream>(tokenizer_, options, reasoning, std::move(tools),
                                           hidden_ids());
}

std::shared_ptr<TokenConstraint> ModelText::make_constraint(const text::ChatRequest& request) {
  const bool forced_call = request.tool_choice == text::ToolChoice::kRequired ||
                           request.tool_choice == text::ToolChoice::kNamed;
  if (!forced_call && request.output.kind == text::OutputFormat::Kind::kText) return nullptr;
  std::call_once(vocab_once_, [this] {
    // Special tokens never come from a grammar; the end-of-message marker ends the answer.
    std::vector<std::string> bytes(static_cast<size_t>(tokenizer_.vocab_size()));
    for (int32_t id = 0; id < tokenizer_.vocab_size(); ++id) {
      if (!tokenizer_.is_special(id)) bytes[static_cast<size_t>(id)] = token_bytes(id);
    }
    std::vector<int32_t> end_ids;
    if (auto end = end_of_message_id()) end_ids.push_back(*end);
    auto vocab = std::make_shared<constraint::VocabIndex>(bytes, std::move(end_ids));
    constraint::prewarm(*vocab);  // here, not in the engine thread's first mask
    vocab_ = std::move(vocab);
  });
  // With a reasoning parser the answer's format applies after `</think>`.
  return constraints_.make(request, vocab_, parse_reasoning_ && request.add_generation_prompt);
}

std::string ModelText::token_bytes(int32_t id) {
  return tokenizer_.token_bytes(id).value_or(std::string());
}

std::string ModelText::decode(std::span<const int32_t> ids) {
  return tokenizer_.decode(ids);
}

}  // namespace mm
