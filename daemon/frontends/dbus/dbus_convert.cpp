#include "daemon/frontends/dbus/dbus_convert.h"

#include <cmath>
#include <limits>

#include "daemon/frontends/dbus/dbus_error.h"
#include "daemon/frontends/request_mapping.h"
#include "daemon/text/error.h"

namespace mm {
namespace {

[[noreturn]] void bad_option(const std::string& key, const std::string& why) {
  throw dbus_error::make(dbus_error::kInvalidArgument, "option '" + key + "': " + why);
}

// Any D-Bus integer type is accepted, so `busctl ... max_tokens i 8`, `... u 8` and `... t 8`
// all work; the value must fit [min, max] (the C++ type it lands in, not a sampling limit:
// to_sampling_params checks those).
int64_t integer_of(const std::string& key, const sdbus::Variant& value, int64_t min, int64_t max) {
  const std::string type = value.peekValueType();
  int64_t out = 0;
  if (type == "y") {
    out = value.get<uint8_t>();
  } else if (type == "n") {
    out = value.get<int16_t>();
  } else if (type == "q") {
    out = value.get<uint16_t>();
  } else if (type == "i") {
    out = value.get<int32_t>();
  } else if (type == "u") {
    out = value.get<uint32_t>();
  } else if (type == "x") {
    out = value.get<int64_t>();
  } else if (type == "t") {
    const uint64_t wide = value.get<uint64_t>();
    if (wide > static_cast<uint64_t>(max))
      bad_option(key, std::to_string(wide) + " is out of range [" + std::to_string(min) + ", " +
                          std::to_string(max) + "]");
    out = static_cast<int64_t>(wide);
  } else {
    bad_option(key, "expected an integer (y, n, q, i, u, x or t), got '" + type + "'");
  }
  if (out < min || out > max)
    bad_option(key, std::to_string(out) + " is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
  return out;
}

int int_of(const std::string& key, const sdbus::Variant& value) {
  return static_cast<int>(integer_of(key, value, std::numeric_limits<int32_t>::min(),
                                     std::numeric_limits<int32_t>::max()));
}

// A real as d, or any integer type (`temperature i 0`).
float real_of(const std::string& key, const sdbus::Variant& value) {
  const std::string type = value.peekValueType();
  double out = 0.0;
  if (type == "d") {
    out = value.get<double>();
  } else if (type.size() == 1 && std::string_view("ynqiuxt").find(type[0]) != std::string::npos) {
    out = static_cast<double>(integer_of(key, value, std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max()));
  } else {
    bad_option(key, "expected a real (d) or an integer, got '" + type + "'");
  }
  if (!std::isfinite(out) || std::fabs(out) > std::numeric_limits<float>::max())
    bad_option(key, std::to_string(out) + " is not a finite float");
  return static_cast<float>(out);
}

bool bool_of(const std::string& key, const sdbus::Variant& value) {
  if (value.peekValueType() != "b") bad_option(key, "expected a boolean (b)");
  return value.get<bool>();
}

std::string string_of(const std::string& key, const sdbus::Variant& value) {
  if (value.peekValueType() != "s") bad_option(key, "expected a string (s)");
  return value.get<std::string>();
}

std::vector<std::string> strings_of(const std::string& key, const sdbus::Variant& value) {
  const std::string type = value.peekValueType();
  std::vector<std::string> out;
  if (type == "s") {
    out.push_back(value.get<std::string>());
  } else if (type == "as") {
    out = value.get<std::vector<std::string>>();
  } else {
    bad_option(key, "expected a string (s) or an array of strings (as)");
  }
  for (const std::string& s : out) {
    if (s.empty()) bad_option(key, "must not contain an empty string");
  }
  return out;
}

// JSON text from an option or messages_json, parsed once; a syntax error names the field and the
// byte offset.
text::JsonValue parse_json(const std::string& json_text, const std::string& field) {
  try {
    return text::JsonValue::parse(json_text, field);
  } catch (const text::TextError& error) {
    throw text::ChatRequestError(field, std::string("is not valid JSON: ") + error.what());
  }
}

}  // namespace

DbusRequestOptions options_from_dbus(const DbusOptions& options, bool chat) {
  DbusRequestOptions out;
  ipc::SamplingOptions& s = out.sampling;
  for (const auto& [key, value] : options) {
    const bool chat_key = key == "tools" || key == "tool_choice" || key == "chat_template_kwargs" ||
                          key == "add_generation_prompt" || key == "continue_final_message";
    if (chat_key && !chat) bad_option(key, "is only for StartChat and TokenizeChat");
    if (key == "max_tokens") {
      s.max_tokens = int_of(key, value);
    } else if (key == "min_tokens") {
      s.min_tokens = int_of(key, value);
    } else if (key == "temperature") {
      s.temperature = real_of(key, value);
    } else if (key == "top_k") {
      s.top_k = int_of(key, value);
    } else if (key == "top_p") {
      s.top_p = real_of(key, value);
    } else if (key == "min_p") {
      s.min_p = real_of(key, value);
    } else if (key == "repetition_penalty") {
      s.repetition_penalty = real_of(key, value);
    } else if (key == "frequency_penalty") {
      s.frequency_penalty = real_of(key, value);
    } else if (key == "presence_penalty") {
      s.presence_penalty = real_of(key, value);
    } else if (key == "seed") {
      s.seed = value.peekValueType() == "t"
                   ? value.get<uint64_t>()
                   : static_cast<uint64_t>(
                         integer_of(key, value, 0, std::numeric_limits<int64_t>::max()));
    } else if (key == "ignore_eos") {
      s.ignore_eos = bool_of(key, value);
    } else if (key == "stop_token_ids") {
      if (value.peekValueType() != "ai") bad_option(key, "expected an array of int32 (ai)");
      s.stop_token_ids = value.get<std::vector<int32_t>>();
    } else if (key == "stop") {
      s.stop = strings_of(key, value);
    } else if (key == "bad_words") {
      s.bad_words = strings_of(key, value);
    } else if (key == "allowed_token_ids") {
      if (value.peekValueType() != "ai") bad_option(key, "expected an array of int32 (ai)");
      s.allowed_token_ids = value.get<std::vector<int32_t>>();
    } else if (key == "truncate_prompt_tokens") {
      s.truncate_prompt_tokens =
          static_cast<int>(integer_of(key, value, -1, std::numeric_limits<int32_t>::max()));
    } else if (key == "priority") {
      out.priority = static_cast<int>(integer_of(key, value, -1000, 1000));
    } else if (key == "include_stop_str_in_output") {
      out.include_stop_str_in_output = bool_of(key, value);
    } else if (key == "skip_special_tokens") {
      out.skip_special_tokens = bool_of(key, value);
    } else if (key == "tools") {
      out.tools_json = string_of(key, value);
    } else if (key == "tool_choice") {
      out.tool_choice = string_of(key, value);
    } else if (key == "chat_template_kwargs") {
      out.chat_template_kwargs_json = string_of(key, value);
    } else if (key == "add_generation_prompt") {
      out.add_generation_prompt = bool_of(key, value);
    } else if (key == "continue_final_message") {
      out.continue_final_message = bool_of(key, value);
    } else {
      bad_option(key, "unknown option");
    }
  }
  return out;
}

text::ChatRequest chat_request_from_dbus(const std::string& messages_json,
                                         const DbusRequestOptions& options) {
  text::ChatRequest chat;
  try {
    chat.messages = text::chat_messages_from_json(parse_json(messages_json, "messages"));
    if (options.tools_json)
      chat.tools = text::chat_tools_from_json(parse_json(*options.tools_json, "tools"));
    // OpenAI's default, as over HTTP: "auto" with tools, "none" without.
    chat.tool_choice = chat.tools.empty() ? text::ToolChoice::kNone : text::ToolChoice::kAuto;
    if (options.tool_choice) {
      // A mode by name, or a named function as JSON.
      const std::string& choice = *options.tool_choice;
      const size_t first = choice.find_first_not_of(" \t\r\n");
      const bool object = first != std::string::npos && choice[first] == '{';
      text::apply_tool_choice(object ? parse_json(choice, "tool_choice") : text::JsonValue(choice),
                              chat);
    }
    if (options.add_generation_prompt) chat.add_generation_prompt = *options.add_generation_prompt;
    if (options.continue_final_message) {
      chat.continue_final_message = *options.continue_final_message;
      // vLLM's rule, as over HTTP: continuing the final message implies no generation prompt.
      if (chat.continue_final_message && !options.add_generation_prompt)
        chat.add_generation_prompt = false;
    }
    if (options.chat_template_kwargs_json)
      chat.template_kwargs = text::chat_template_kwargs_from_json(
          parse_json(*options.chat_template_kwargs_json, "chat_template_kwargs"));
    text::check_chat_request(chat);
  } catch (const text::ChatRequestError& error) {
    throw dbus_error::make(dbus_error::kInvalidArgument, error.what());
  }
  return chat;
}

EngineRequest request_from_dbus(std::vector<int32_t> prompt_token_ids,
                                const DbusRequestOptions& options, const SamplingParams& defaults) {
  if (prompt_token_ids.empty())
    throw dbus_error::make(dbus_error::kInvalidArgument, "the prompt is empty");
  for (size_t i = 0; i < prompt_token_ids.size(); ++i) {
    if (prompt_token_ids[i] < 0)
      throw dbus_error::make(dbus_error::kInvalidArgument,
                             "prompt token " + std::to_string(i) + " is negative (" +
                                 std::to_string(prompt_token_ids[i]) + ")");
  }
  EngineRequest request;
  request.prompt_token_ids = std::move(prompt_token_ids);
  // The limits every frontend shares; the message names the field ("sampling.top_p ...").
  if (auto problem = to_sampling_params(options.sampling, defaults, request.params))
    throw dbus_error::make(dbus_error::kInvalidArgument, "bad option: " + *problem);
  request.priority = options.priority;
  return request;
}

DbusOptions status_to_dbus(const EngineStatus& status, uint32_t num_active_requests) {
  DbusOptions out;
  out["state"] = sdbus::Variant(std::string(engine_state_name(status.state)));
  out["sleep_level"] = sdbus::Variant(int32_t{status.sleep_level});
  // Loading or waking: the fraction done and the checkpoint bytes read of the shards' total.
  out["load_progress"] = sdbus::Variant(status.load_progress);
  out["load_bytes_done"] = sdbus::Variant(uint64_t{status.load_bytes_done});
  out["load_bytes_total"] = sdbus::Variant(uint64_t{status.load_bytes_total});
  out["num_running"] = sdbus::Variant(int32_t{status.num_running});
  out["num_waiting"] = sdbus::Variant(int32_t{status.num_waiting});
  out["num_kv_blocks_total"] = sdbus::Variant(int32_t{status.num_kv_blocks_total});
  out["num_kv_blocks_used"] = sdbus::Variant(int32_t{status.num_kv_blocks_used});
  out["num_kv_blocks_cached"] = sdbus::Variant(int32_t{status.num_kv_blocks_cached});
  out["kv_block_size"] = sdbus::Variant(int32_t{status.kv_block_size});
  out["kv_cache_dtype"] = sdbus::Variant(status.kv_cache_dtype);
  // a{s(ss)}: each setting's value and where it came from.
  std::map<std::string, sdbus::Struct<std::string, std::string>> settings;
  for (const SettingOrigin& s : status.settings)
    settings[s.name] = sdbus::Struct<std::string, std::string>(s.value, s.source);
  out["settings"] = sdbus::Variant(settings);
  out["num_steps"] = sdbus::Variant(uint64_t{status.num_steps});
  out["prompt_tokens_total"] = sdbus::Variant(uint64_t{status.prompt_tokens_total});
  out["generation_tokens_total"] = sdbus::Variant(uint64_t{status.generation_tokens_total});
  out["prefix_query_tokens_total"] = sdbus::Variant(uint64_t{status.prefix_query_tokens_total});
  out["prefix_hit_tokens_total"] = sdbus::Variant(uint64_t{status.prefix_hit_tokens_total});
  out["num_preemptions_total"] = sdbus::Variant(uint64_t{status.num_preemptions_total});
  out["requests_finished_total"] = sdbus::Variant(uint64_t{status.requests_finished_total});
  if (!status.kv_tiers.empty()) {
    std::map<std::string, std::map<std::string, uint64_t>> tiers;
    for (const KvTierStats& t : status.kv_tiers) {
      tiers[t.name] = {{"blocks", t.num_blocks},
                       {"bytes", t.num_bytes},
                       {"budget_bytes", t.budget_bytes},
                       {"restores_total", t.hits_total},
                       {"stores_total", t.stores_total},
                       {"evictions_total", t.evictions_total},
                       {"rejected_total", t.rejected_total}};
    }
    out["kv_tiers"] = sdbus::Variant(tiers);
    out["kv_tier_restored_tokens_total"] =
        sdbus::Variant(uint64_t{status.kv_tier_restored_tokens_total});
  }
  out["active_requests"] = sdbus::Variant(num_active_requests);
  out["error"] = sdbus::Variant(status.error);
  return out;
}

}  // namespace mm
