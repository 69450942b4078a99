// The model's text layer for the frontends: its tokenizer.json, its chat template (the
// --chat-template file, else the checkpoint's chat_template.jinja or tokenizer_config.json's
// chat_template, else the MiniMax-M2 template mmd ships) and the configured reasoning and
// tool-call parsers, behind the TextAdapter interface of every frontend (shm, HTTP, D-Bus).
// Immutable after construction and safe from any thread; each stream belongs to one request
// and is used by one thread at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/constraint/constraint.h"
#include "daemon/frontends/text_adapter.h"
#include "daemon/text/chat_template.h"
#include "daemon/text/reasoning_parser.h"
#include "daemon/text/tokenizer.h"

namespace mm {

struct ModelTextOptions {
  std::filesystem::path model;
  std::string chat_template_file;  // --chat-template; empty: from the checkpoint
  std::string reasoning_parser;    // "minimax_m2" (split), "minimax_m2_append_think", ""
  bool enable_auto_tool_choice = false;
  // Text a prompt or chat may hold before tokenizing (a 200k-token context is ~1 MB of text):
  // a larger one is refused naming the limit. 0: no limit.
  size_t max_prompt_bytes = 16u << 20;
};

class ModelText : public TextAdapter {
 public:
  // Throws std::runtime_error naming the file when the model has no usable tokenizer or the
  // template does not parse.
  explicit ModelText(const ModelTextOptions& options);

  // The id of MiniMax's end-of-message marker `[e~[`, when the vocabulary has it.
  std::optional<int32_t> end_of_message_id() const;
  // Token ids never shown as text (the end-of-message marker that ends each answer).
  std::vector<int32_t> hidden_ids() const;
  const std::string& template_source() const { return template_origin_; }
  const text::Tokenizer& tokenizer() const { return tokenizer_; }

  // Throws ChatRequestError naming `field` when `bytes` exceed max_prompt_bytes.
  void check_prompt_bytes(size_t bytes, const std::string& field) const;
  // The prompt of a chat (the one path; render_chat is this).
  text::ChatPrompt build_prompt(const text::ChatRequest& request) const;

  // TextAdapter (every frontend).
  std::vector<int32_t> encode_prompt(const std::string& prompt) override;
  text::ChatPrompt render_chat(const text::ChatRequest& request) override;
  std::unique_ptr<TextStream> open_stream(const TextStreamOptions& options) override;
  std::shared_ptr<TokenConstraint> make_constraint(const text::ChatRequest& request) override;
  int32_t vocab_size() const override { return tokenizer_.vocab_size(); }
  std::string token_bytes(int32_t id) override;
  std::string decode(std::span<const int32_t> ids) override;

 private:
  ModelTextOptions options_;
  text::Tokenizer tokenizer_;
  std::optional<text::ChatTemplate> template_;
  std::string template_origin_;
  text::ReasoningMode reasoning_mode_ = text::ReasoningMode::kSplit;
  bool parse_reasoning_ = false;
  // The vocabulary as constraints walk it, built on the first constrained request.
  mutable std::once_flag vocab_once_;
  mutable std::shared_ptr<const constraint::VocabIndex> vocab_;
  mutable constraint::ConstraintCache constraints_;  // compiled grammars, shared by requests
};

}  // namespace mm
