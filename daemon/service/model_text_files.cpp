#include "daemon/service/model_text_files.h"

#include <sys/stat.h>

#include <optional>
#include <stdexcept>

#include "daemon/model/checkpoint_file.h"
#include "daemon/model/load_error.h"
#include "daemon/text/error.h"
#include "daemon/text/json_value.h"

namespace mm {

namespace fs = std::filesystem;

bool has_tokenizer_file(const fs::path& model) {
  struct stat st {};
  return ::lstat((model / "tokenizer.json").c_str(), &st) == 0;
}

text::Tokenizer load_model_tokenizer(const fs::path& model) {
  const fs::path file = model / "tokenizer.json";
  // Read here, as a regular file only (a FIFO would block the reader), then parsed.
  const std::optional<std::string> json = read_regular_file(file);
  if (!json) {
    throw std::runtime_error(
        file.string() + ": missing; mmd needs the model's tokenizer for text prompts and chats");
  }
  try {
    return text::Tokenizer::from_json(*json, file.string());
  } catch (const text::TextError& error) {
    throw std::runtime_error(error.what());
  }
}

LoadedChatTemplate load_model_chat_template(const fs::path& model,
                                            const std::string& chat_template_file) {
  std::optional<std::string> source;
  std::string origin;
  if (!chat_template_file.empty()) {
    source = read_regular_file(chat_template_file);
    if (!source) throw std::runtime_error(chat_template_file + ": cannot read the chat template");
    origin = chat_template_file;
  } else if (auto file = read_regular_file(model / "chat_template.jinja")) {
    source = std::move(file);
    origin = (model / "chat_template.jinja").string();
  } else if (auto config = read_regular_file(model / "tokenizer_config.json")) {
    const std::string name = (model / "tokenizer_config.json").string();
    try {
      const text::JsonValue json = text::JsonValue::parse(*config, name);
      if (const text::JsonValue* chat = json.find("chat_template"); chat && chat->is_string()) {
        source = chat->as_string();
        origin = name;
      }
    } catch (const text::TextError& error) {
      throw std::runtime_error(error.what());
    }
  }
  try {
    if (source) return {text::ChatTemplate::from_source(*source, origin), origin};
    return {text::ChatTemplate::minimax_m2(), "the MiniMax-M2 template built into mmd"};
  } catch (const text::TextError& error) {
    throw std::runtime_error(error.what());
  }
}

}  // namespace mm
