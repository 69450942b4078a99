#include "daemon/model/name_pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "daemon/model/load_error.h"

namespace mm {

struct NamePattern::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

namespace {

bool looks_like_class_name(std::string_view text) {
  // Module names are lower-case paths ("lm_head", "model.layers.0..."); classes are CamelCase.
  return !text.empty() && std::isupper(static_cast<unsigned char>(text.front())) &&
         text.find('.') == std::string_view::npos;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

NamePattern::NamePattern(std::string text, const std::string& where) : text_(std::move(text)) {
  if (text_.starts_with("re:")) {
    kind_ = Kind::kRegex;
    const std::string pattern = text_.substr(3);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      throw LoadError(where + ": pattern '" + text_ + "' does not compile at character " +
                      std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if it fails
    regex_ = std::make_unique<Regex>();
    regex_->code = code;
  } else if (looks_like_class_name(text_)) {
    kind_ = Kind::kClass;
  } else {
    kind_ = Kind::kExact;
  }
}

NamePattern::~NamePattern() = default;
NamePattern::NamePattern(NamePattern&&) noexcept = default;
NamePattern& NamePattern::operator=(NamePattern&&) noexcept = default;

bool NamePattern::matches(std::string_view module_name, std::string_view module_class) const {
  switch (kind_) {
    case Kind::kExact:
      return module_name == text_;
    case Kind::kClass:
      // vLLM's rule: the target, case-insensitively, is a substring of the module's class.
      return lower(module_class).find(lower(text_)) != std::string::npos;
    case Kind::kRegex: {
      pcre2_match_data* data = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
      const int rc = pcre2_match(regex_->code, reinterpret_cast<PCRE2_SPTR>(module_name.data()),
                                 module_name.size(), 0, PCRE2_ANCHORED, data, nullptr);
      pcre2_match_data_free(data);
      return rc >= 0;
    }
  }
  return false;
}

std::string hf_module_alias(std::string_view module_name) {
  std::string out(module_name);
  auto replace = [&out](std::string_view from, std::string_view to) {
    const size_t at = out.find(from);
    if (at != std::string::npos) out.replace(at, from.size(), to);
  };
  replace(".block_sparse_moe.", ".mlp.");
  if (out.ends_with(".w1")) out.replace(out.size() - 3, 3, ".gate_proj");
  if (out.ends_with(".w3")) out.replace(out.size() - 3, 3, ".up_proj");
  if (out.ends_with(".w2")) out.replace(out.size() - 3, 3, ".down_proj");
  return out;
}

}  // namespace mm
