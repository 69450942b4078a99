// GET /tokenizer_info as vLLM answers it (lm-eval's `tokenizer_backend=remote` reads it, with
// /tokenize and /detokenize, instead of loading the tokenizer itself): the checkpoint's
// tokenizer_config.json (bos_token, eos_token, pad_token, model_max_length...), its
// tokenizer_class, and the chat template in use. Built once at start-up.
#pragma once

#include <filesystem>
#include <string>

namespace mm::http {

// The body, a JSON object. `chat_template_file`: --chat-template (empty: the checkpoint's
// chat_template.jinja, else tokenizer_config.json's own chat_template). Special tokens written
// as objects ({"content": ...}) become their text, as vLLM serializes them. Throws LoadError
// naming the file when one is there but cannot be read, std::runtime_error when
// tokenizer_config.json is not a JSON object.
std::string tokenizer_info_json(const std::filesystem::path& model,
                                const std::string& chat_template_file);

}  // namespace mm::http
