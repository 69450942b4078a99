// Module-name patterns of quantization configs: exact names, `re:` regular expressions with
// Python re.match semantics (anchored at the start only, quant-formats.md §2.2.1), and class
// names. Immutable after construction; match() is safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace mm {

class NamePattern {
 public:
  enum class Kind { kExact, kRegex, kClass };

  // Throws LoadError naming `where` when a regular expression does not compile.
  NamePattern(std::string text, const std::string& where);
  ~NamePattern();
  NamePattern(NamePattern&&) noexcept;
  NamePattern& operator=(NamePattern&&) noexcept;

  // `module_class` is the PyTorch class the module would have ("Linear").
  bool matches(std::string_view module_name, std::string_view module_class) const;
  Kind kind() const { return kind_; }
  const std::string& text() const { return text_; }

 private:
  struct Regex;
  std::string text_;
  Kind kind_;
  std::unique_ptr<Regex> regex_;
};

// The names transformers uses for the same modules (`mlp` for `block_sparse_moe`, gate_proj /
// up_proj / down_proj for w1 / w3 / w2). Configs written against either spelling must match.
std::string hf_module_alias(std::string_view module_name);

}  // namespace mm
