#include "daemon/frontends/http/tokenizer_info.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "daemon/model/checkpoint_file.h"

namespace mm::http {

std::string tokenizer_info_json(const std::filesystem::path& model,
                                const std::string& chat_template_file) {
  using json = nlohmann::ordered_json;
  json info = json::object();
  const std::filesystem::path config_path = model / "tokenizer_config.json";
  if (auto text = read_regular_file(config_path)) {
    try {
      info = json::parse(*text);
    } catch (const json::exception& error) {
      throw std::runtime_error(config_path.string() + ": not valid JSON: " + error.what());
    }
    if (!info.is_object()) throw std::runtime_error(config_path.string() + ": not a JSON object");
  }
  // AddedToken objects ({"content": "]~!b[", "lstrip": false, ...}) as their text.
  for (auto it = info.begin(); it != info.end(); ++it) {
    if (it.value().is_object() && it.value().contains("content") &&
        it.value()["content"].is_string())
      it.value() = it.value()["content"];
  }
  if (!info.contains("tokenizer_class")) info["tokenizer_class"] = "PreTrainedTokenizerFast";
  std::optional<std::string> chat_template;
  if (!chat_template_file.empty()) {
    chat_template = read_regular_file(chat_template_file);
  } else {
    chat_template = read_regular_file(model / "chat_template.jinja");
  }
  if (chat_template) info["chat_template"] = *chat_template;
  return info.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace mm::http
