#include "daemon/frontends/dbus/dbus_convert.h"

#include <cmath>
#include <limits>

#include "daemon/frontends/dbus/dbus_error.h"

namespace mm {
namespace {

[[noreturn]] void bad_option(const std::string& key, const std::string& why) {
  throw dbus_error::make(dbus_error::kInvalidArgument, "option '" + key + "': " + why);
}

// Any D-Bus integer type is accepted, so `busctl ... max_tokens i 8` and `... u 8` both work.
int64_t integer_of(const std::string& key, const sdbus::Variant& value, int64_t min, int64_t max) {
  const std::string type = value.peekValueType();
  int64_t out = 0;
  if (type == "y") out = value.get<uint8_t>();
  else if (type == "n") out = value.get<int16_t>();
  else if (type == "q") out = value.get<uint16_t>();
  else if (type == "i") out = value.get<int32_t>();
  else if (type == "u") out = value.get<uint32_t>();
  else if (type == "x") out = value.get<int64_t>();
  else bad_option(key, "expected an integer (y, n, q, i, u or x), got '" + type + "'");
  if (out < min || out > max)
    bad_option(key, std::to_string(out) + " is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
  return out;
}

double real_of(const std::string& key, const sdbus::Variant& value, double min, double max) {
  const std::string type = value.peekValueType();
  double out = 0.0;
  if (type == "d") out = value.get<double>();
  else out = static_cast<double>(integer_of(key, value, -1'000'000, 1'000'000));
  if (!std::isfinite(out) || out < min || out > max)
    bad_option(key, std::to_string(out) + " is out of range [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
  return out;
}

}  // namespace

EngineRequest request_from_dbus(std::vector<int32_t> prompt_token_ids, const DbusOptions& options,
                                const SamplingParams& defaults) {
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
  request.params = defaults;
  SamplingParams& params = request.params;
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  for (const auto& [key, value] : options) {
    if (key == "max_tokens") {
      params.max_tokens = static_cast<int>(integer_of(key, value, 1, kMaxInt));
    } else if (key == "min_tokens") {
      params.min_tokens = static_cast<int>(integer_of(key, value, 0, kMaxInt));
    } else if (key == "temperature") {
      params.temperature = static_cast<float>(real_of(key, value, 0.0, 100.0));
    } else if (key == "top_k") {
      params.top_k = static_cast<int>(integer_of(key, value, -1, kMaxInt));
    } else if (key == "top_p") {
      params.top_p = static_cast<float>(real_of(key, value, 1e-6, 1.0));
    } else if (key == "min_p") {
      params.min_p = static_cast<float>(real_of(key, value, 0.0, 1.0));
    } else if (key == "repetition_penalty") {
      params.repetition_penalty = static_cast<float>(real_of(key, value, 1e-6, 100.0));
    } else if (key == "frequency_penalty") {
      params.frequency_penalty = static_cast<float>(real_of(key, value, -2.0, 2.0));
    } else if (key == "presence_penalty") {
      params.presence_penalty = static_cast<float>(real_of(key, value, -2.0, 2.0));
    } else if (key == "seed") {
      const std::string type = value.peekValueType();
      if (type == "t") params.seed = value.get<uint64_t>();
      else params.seed = static_cast<uint64_t>(integer_of(key, value, 0, kMaxInt));
    } else if (key == "ignore_eos") {
      if (value.peekValueType() != "b") bad_option(key, "expected a boolean (b)");
      params.ignore_eos = value.get<bool>();
    } else if (key == "stop_token_ids") {
      if (value.peekValueType() != "ai") bad_option(key, "expected an array of int32 (ai)");
      params.stop_token_ids = value.get<std::vector<int32_t>>();
    } else if (key == "priority") {
      request.priority = static_cast<int>(integer_of(key, value, -1000, 1000));
    } else {
      bad_option(key, "unknown option");
    }
  }
  if (params.min_tokens > params.max_tokens)
    bad_option("min_tokens", "is larger than max_tokens (" + std::to_string(params.max_tokens) + ")");
  return request;
}

DbusOptions status_to_dbus(const EngineStatus& status, uint32_t num_active_requests) {
  DbusOptions out;
  out["state"] = sdbus::Variant(std::string(engine_state_name(status.state)));
  out["sleep_level"] = sdbus::Variant(int32_t{status.sleep_level});
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
  out["active_requests"] = sdbus::Variant(num_active_requests);
  out["error"] = sdbus::Variant(status.error);
  return out;
}

}  // namespace mm
