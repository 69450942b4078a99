// Parses and renders arbitrary text as a chat template: output or TextError, never a crash.
#include <cstdint>
#include <string>

#include "daemon/text/chat_template.h"
#include "daemon/text/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  static const mm::text::ChatTemplateInputs kInputs = [] {
    mm::text::ChatTemplateInputs inputs;
    inputs.messages = mm::text::JsonValue::parse(
        R"([{"role":"system","content":"S"},{"role":"user","content":"hi é"},)"
        R"({"role":"assistant","content":"<think>r</think>a","tool_calls":[{"function":{"name":"f","arguments":{"x":[1,2]}}}]},)"
        R"({"role":"tool","content":[{"type":"text","text":"t"}]}])");
    inputs.tools = mm::text::JsonValue::parse(
        R"([{"type":"function","function":{"name":"f","parameters":{}}}])");
    inputs.add_generation_prompt = true;
    return inputs;
  }();
  try {
    const auto tmpl = mm::text::ChatTemplate::from_source(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)tmpl.render(kInputs);
  } catch (const mm::text::TextError&) {
  }
  return 0;
}
