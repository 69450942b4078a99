// Fuzzes the D-Bus frontend's argument conversion (dbus_convert.cpp): the a{sv} options of
// Generate / StartChat / TokenizeChat and StartChat's messages_json, read as the service reads
// them. The variants are built from the input without a bus (sdbus-c++ marshals them into a
// plain message, which refuses what no bus could carry, e.g. invalid UTF-8).
//
// Input, one item a line:
//   line 1: "chat JSON" (options read for a chat; JSON is messages_json) or anything else (a
//           plain Generate)
//   then:   KEY<TAB>SIGNATURE<TAB>VALUE[<TAB>VALUE...]  (arrays: one VALUE per element)
// Values take the escapes \n, \t, \\ and \xHH. A line that cannot be built is not interesting
// (skipped input).
//
// Checks: everything a caller sends either converts or is refused with
// org.mmd.Error.InvalidArgument (never another exception, which the service would turn into
// org.mmd.Error.Internal); what converts is inside the limits the engine relies on.
#include <sdbus-c++/Error.h>
#include <sdbus-c++/Types.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/frontends/dbus/dbus_convert.h"
#include "daemon/frontends/dbus/dbus_error.h"

namespace {

struct Skip {};  // the input cannot be turned into D-Bus values

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = text.find(separator, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == 'x' && i + 2 < text.size()) {
      unsigned value = 0;
      const auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec != std::errc() || ptr != text.data() + i + 3) throw Skip{};
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

template <typename T>
T integer(std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) throw Skip{};
  return value;
}

double real(std::string_view text) {
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) throw Skip{};
  return value;
}

bool boolean(std::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw Skip{};
}

template <typename T, typename Read>
std::vector<T> array(const std::vector<std::string_view>& values, Read read) {
  std::vector<T> out;
  for (std::string_view v : values)
    out.push_back(read(v));
  return out;
}

// One variant of signature `sig` from `values` (the fields after the signature).
sdbus::Variant variant_of(std::string_view sig, const std::vector<std::string_view>& values) {
  const auto one = [&]() -> std::string_view {
    if (values.size() != 1) throw Skip{};
    return values[0];
  };
  const auto text = [](std::string_view v) { return unescape(v); };
  if (sig == "y") return sdbus::Variant(integer<uint8_t>(one()));
  if (sig == "n") return sdbus::Variant(integer<int16_t>(one()));
  if (sig == "q") return sdbus::Variant(integer<uint16_t>(one()));
  if (sig == "i") return sdbus::Variant(integer<int32_t>(one()));
  if (sig == "u") return sdbus::Variant(integer<uint32_t>(one()));
  if (sig == "x") return sdbus::Variant(integer<int64_t>(one()));
  if (sig == "t") return sdbus::Variant(integer<uint64_t>(one()));
  if (sig == "d") return sdbus::Variant(real(one()));
  if (sig == "b") return sdbus::Variant(boolean(one()));
  if (sig == "s") return sdbus::Variant(text(one()));
  if (sig == "o") return sdbus::Variant(sdbus::ObjectPath(text(one())));
  if (sig == "as") return sdbus::Variant(array<std::string>(values, text));
  if (sig == "ai") return sdbus::Variant(array<int32_t>(values, integer<int32_t>));
  if (sig == "ax") return sdbus::Variant(array<int64_t>(values, integer<int64_t>));
  if (sig == "ad") return sdbus::Variant(array<double>(values, real));
  if (sig == "ay") return sdbus::Variant(array<uint8_t>(values, integer<uint8_t>));
  if (sig == "v") return sdbus::Variant(sdbus::Variant(text(one())));
  if (sig == "(ii)") {
    if (values.size() != 2) throw Skip{};
    return sdbus::Variant(
        sdbus::Struct<int32_t, int32_t>(integer<int32_t>(values[0]), integer<int32_t>(values[1])));
  }
  if (sig == "a{ss}") {
    if (values.size() % 2 != 0) throw Skip{};
    std::map<std::string, std::string> map;
    for (size_t i = 0; i < values.size(); i += 2)
      map[text(values[i])] = text(values[i + 1]);
    return sdbus::Variant(map);
  }
  throw Skip{};
}

// The one kind of error a caller's arguments may cause.
void expect_invalid_argument(const sdbus::Error& error) {
  if (error.getName() != mm::dbus_error::kInvalidArgument) __builtin_trap();
  if (error.getMessage().empty()) __builtin_trap();
}

void check_params(const mm::SamplingParams& p) {
  // vLLM's limits, which to_sampling_params promises (request_mapping.h).
  if (!(p.temperature >= 0.0f && p.temperature <= 2.0f)) __builtin_trap();
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) __builtin_trap();
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) __builtin_trap();
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) __builtin_trap();
  if (!(std::fabs(p.frequency_penalty) <= 2.0f) || !(std::fabs(p.presence_penalty) <= 2.0f))
    __builtin_trap();
  if (p.top_k < -1 || p.max_tokens < 1 || p.min_tokens < 0) __builtin_trap();
  for (int32_t id : p.stop_token_ids) {
    if (id < 0) __builtin_trap();
  }
  for (const std::string& s : p.stop) {
    if (s.empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> lines = split(input, '\n');
  const bool chat = lines[0].starts_with("chat ");
  const std::string messages_json(chat ? lines[0].substr(5) : std::string_view());
  mm::DbusOptions options;
  try {
    for (size_t i = 1; i < lines.size(); ++i) {
      std::vector<std::string_view> fields = split(lines[i], '\t');
      if (fields.size() < 2) throw Skip{};
      const std::string key = unescape(fields[0]);
      const std::string_view sig = fields[1];
      fields.erase(fields.begin(), fields.begin() + 2);
      options[key] = variant_of(sig, fields);
    }
  } catch (const Skip&) {
    return 0;
  } catch (const sdbus::Error&) {
    return 0;  // a value sd-bus itself refuses to marshal (no client could send it)
  }

  mm::DbusRequestOptions parsed;
  try {
    parsed = mm::options_from_dbus(options, chat);
  } catch (const sdbus::Error& error) {
    expect_invalid_argument(error);
    return 0;
  }
  if (parsed.sampling.stop_token_ids.size() > options.size() * size + 1) __builtin_trap();
  if (chat) {
    try {
      const mm::text::ChatRequest request = mm::chat_request_from_dbus(messages_json, parsed);
      // What check_chat_request promises the prompt builder.
      if (request.messages.empty()) __builtin_trap();
      if (request.continue_final_message &&
          (request.add_generation_prompt || request.messages.back().role != "assistant"))
        __builtin_trap();
      if (request.tool_choice == mm::text::ToolChoice::kRequired && request.tools.empty())
        __builtin_trap();
    } catch (const sdbus::Error& error) {
      expect_invalid_argument(error);
      return 0;
    }
  }
  try {
    const mm::EngineRequest request = mm::request_from_dbus({1, 2, 3}, parsed, {});
    check_params(request.params);
    if (request.priority < -1000 || request.priority > 1000) __builtin_trap();
  } catch (const sdbus::Error& error) {
    expect_invalid_argument(error);
  }
  return 0;
}
