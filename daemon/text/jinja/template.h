// A parsed Jinja template rendered the way Hugging Face renders chat templates (trim_blocks,
// lstrip_blocks, loopcontrols, HF's tojson, raise_exception, strftime_now, namespace, dict, range).
// Parse errors and render errors are TextError "NAME:LINE:COLUMN: ..."; no input crashes it.
// Thread-safe: a parsed template is immutable; render() may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "daemon/text/json_value.h"

namespace mm::text {

namespace jinja {
struct Node;
}

class JinjaTemplate {
 public:
  // `name` prefixes error messages (e.g. a file path).
  static JinjaTemplate parse(std::string_view source, std::string name = "template");
  // Renders with `variables` as the top-level names.
  std::string render(const JsonObject& variables) const;

 private:
  JinjaTemplate(std::shared_ptr<const jinja::Node> root, std::string name);
  std::shared_ptr<const jinja::Node> root_;
  std::string name_;
};

}  // namespace mm::text
