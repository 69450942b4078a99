// The text files of a checkpoint as mmd reads them at start-up: tokenizer.json and the chat
// template (the --chat-template file, else chat_template.jinja, else tokenizer_config.json's
// chat_template, else the MiniMax-M2 template built in). Shared by mmd (ModelText) and
// `mmctl inspect`, so that inspect refuses exactly what the daemon refuses. Stateless.
#pragma once

#include <filesystem>
#include <string>

#include "daemon/text/chat_template.h"
#include "daemon/text/tokenizer.h"

namespace mm {

// Whether the checkpoint has a tokenizer.json (anything at that name, even a broken one):
// without one mmd serves token-id prompts only.
bool has_tokenizer_file(const std::filesystem::path& model);

// Parses model/tokenizer.json. Throws std::runtime_error naming the file when it is missing,
// not a regular file, or not a tokenizer mmd can run.
text::Tokenizer load_model_tokenizer(const std::filesystem::path& model);

struct LoadedChatTemplate {
  text::ChatTemplate chat_template;
  std::string origin;  // the file it came from, or the built-in template's description
};

// Finds and compiles the chat template (`chat_template_file` empty: from the checkpoint).
// Throws std::runtime_error naming the file when it cannot be read or does not compile.
LoadedChatTemplate load_model_chat_template(const std::filesystem::path& model,
                                            const std::string& chat_template_file);

}  // namespace mm
