#include "ipc/codec.h"

#include <msgpack.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

namespace mm::ipc {

namespace {

// Frame type numbers: the variant index plus a base, so client and daemon types never collide.
constexpr uint8_t kClientTypeBase = 1;
constexpr uint8_t kServerTypeBase = 64;
// Limits on what one decoded frame may hold (a 4 GiB "array" header must not allocate).
constexpr size_t kMaxElements = size_t{16} * 1024 * 1024;

using Packer = msgpack::packer<msgpack::sbuffer>;

// ---- writing ----------------------------------------------------------------------------------

void put_str(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
void key(Packer& pk, std::string_view name) { put_str(pk, name); }

template <typename T>
void put_opt(Packer& pk, const std::optional<T>& value) {
  if (value) {
    pk.pack(*value);
  } else {
    pk.pack_nil();
  }
}

void put_ids(Packer& pk, const std::vector<int32_t>& ids) {
  pk.pack_array(static_cast<uint32_t>(ids.size()));
  for (int32_t id : ids)
    pk.pack_int32(id);
}

void put_pairs(Packer& pk, const std::vector<std::pair<int32_t, float>>& pairs) {
  pk.pack_array(static_cast<uint32_t>(pairs.size()));
  for (const auto& [id, value] : pairs) {
    pk.pack_array(2);
    pk.pack_int32(id);
    pk.pack_float(value);
  }
}

void put_histogram(Packer& pk, const Histogram& h) {
  pk.pack_map(4);
  key(pk, "bounds");
  pk.pack(h.bounds);
  key(pk, "counts");
  pk.pack(h.counts);
  key(pk, "sum");
  pk.pack_double(h.sum);
  key(pk, "count");
  pk.pack_uint64(h.count);
}

void put_body(Packer& pk, const Hello& m) {
  pk.pack_map(2);
  key(pk, "version");
  pk.pack_uint32(m.protocol_version);
  key(pk, "client");
  put_str(pk, m.client_name);
}

void put_sampling(Packer& pk, const SamplingOptions& s) {
  pk.pack_map(18);
  key(pk, "temperature");
  put_opt(pk, s.temperature);
  key(pk, "top_k");
  put_opt(pk, s.top_k);
  key(pk, "top_p");
  put_opt(pk, s.top_p);
  key(pk, "min_p");
  put_opt(pk, s.min_p);
  key(pk, "repetition_penalty");
  put_opt(pk, s.repetition_penalty);
  key(pk, "frequency_penalty");
  pk.pack_float(s.frequency_penalty);
  key(pk, "presence_penalty");
  pk.pack_float(s.presence_penalty);
  key(pk, "seed");
  put_opt(pk, s.seed);
  key(pk, "max_tokens");
  put_opt(pk, s.max_tokens);
  key(pk, "min_tokens");
  pk.pack_int32(s.min_tokens);
  key(pk, "ignore_eos");
  pk.pack(s.ignore_eos);
  key(pk, "stop_token_ids");
  put_ids(pk, s.stop_token_ids);
  key(pk, "stop");
  pk.pack(s.stop);
  key(pk, "logprobs");
  pk.pack_int32(s.logprobs);
  key(pk, "logit_bias");
  put_pairs(pk, s.logit_bias);
  key(pk, "bad_words");
  pk.pack(s.bad_words);
  key(pk, "allowed_token_ids");
  put_ids(pk, s.allowed_token_ids);
  key(pk, "truncate_prompt_tokens");
  put_opt(pk, s.truncate_prompt_tokens);
}

void put_body(Packer& pk, const Submit& m) {
  pk.pack_map(13);
  key(pk, "messages");
  pk.pack_array(static_cast<uint32_t>(m.messages.size()));
  for (const ChatMessage& c : m.messages) {
    pk.pack_map(7);
    key(pk, "role");
    put_str(pk, c.role);
    key(pk, "content");
    put_str(pk, c.content);
    key(pk, "reasoning_content");
    put_str(pk, c.reasoning_content);
    key(pk, "tool_calls");
    put_str(pk, c.tool_calls_json);
    key(pk, "tool_call_id");
    put_str(pk, c.tool_call_id);
    key(pk, "name");
    put_str(pk, c.name);
    key(pk, "content_json");
    put_str(pk, c.content_json);
  }
  key(pk, "prompt");
  put_str(pk, m.prompt);
  key(pk, "prompt_token_ids");
  put_ids(pk, m.prompt_token_ids);
  key(pk, "sampling");
  put_sampling(pk, m.sampling);
  key(pk, "tools");
  pk.pack(m.tools_json);
  key(pk, "tool_choice");
  put_str(pk, m.tool_choice);
  key(pk, "add_generation_prompt");
  pk.pack(m.add_generation_prompt);
  key(pk, "priority");
  pk.pack_int32(m.priority);
  key(pk, "chat_template_kwargs");
  put_str(pk, m.chat_template_kwargs_json);
  key(pk, "continue_final_message");
  pk.pack(m.continue_final_message);
  key(pk, "return_prompt_token_ids");
  pk.pack(m.return_prompt_token_ids);
  key(pk, "skip_special_tokens");
  pk.pack(m.skip_special_tokens);
  key(pk, "include_stop_str_in_output");
  pk.pack(m.include_stop_str_in_output);
}

void put_body(Packer& pk, const Cancel&) { pk.pack_map(0); }
void put_body(Packer& pk, const StatusQuery&) { pk.pack_map(0); }
void put_body(Packer& pk, const WakeCommand&) { pk.pack_map(0); }
void put_body(Packer& pk, const ClearCacheCommand&) { pk.pack_map(0); }
void put_body(Packer& pk, const Ack&) { pk.pack_map(0); }
void put_body(Packer& pk, const SleepCommand& m) {
  pk.pack_map(1);
  key(pk, "level");
  pk.pack_int32(m.level);
}

void put_body(Packer& pk, const HelloReply& m) {
  pk.pack_map(4);
  key(pk, "version");
  pk.pack_uint32(m.protocol_version);
  key(pk, "daemon_version");
  put_str(pk, m.daemon_version);
  key(pk, "model");
  put_str(pk, m.model);
  key(pk, "connection");
  pk.pack_uint64(m.connection_id);
}

void put_body(Packer& pk, const Accepted& m) {
  pk.pack_map(3);
  key(pk, "request");
  pk.pack_int64(m.engine_request_id);
  key(pk, "prompt_tokens");
  pk.pack_int32(m.prompt_tokens);
  key(pk, "prompt_token_ids");
  put_ids(pk, m.prompt_token_ids);
}

void put_body(Packer& pk, const Delta& m) {
  pk.pack_map(5);
  key(pk, "tokens");
  put_ids(pk, m.token_ids);
  key(pk, "text");
  put_str(pk, m.text);
  key(pk, "reasoning");
  put_str(pk, m.reasoning);
  key(pk, "tool_calls");
  pk.pack_array(static_cast<uint32_t>(m.tool_calls.size()));
  for (const ToolCallDelta& t : m.tool_calls) {
    pk.pack_map(4);
    key(pk, "index");
    pk.pack_int32(t.index);
    key(pk, "id");
    put_str(pk, t.id);
    key(pk, "name");
    put_str(pk, t.name);
    key(pk, "arguments");
    put_str(pk, t.arguments);
  }
  key(pk, "logprobs");
  pk.pack_array(static_cast<uint32_t>(m.logprobs.size()));
  for (const TokenLogprobs& l : m.logprobs) {
    pk.pack_array(3);
    pk.pack_int32(l.token_id);
    pk.pack_float(l.logprob);
    put_pairs(pk, l.top);
  }
}

void put_body(Packer& pk, const Finished& m) {
  pk.pack_map(3);
  key(pk, "reason");
  put_str(pk, m.reason);
  key(pk, "message");
  put_str(pk, m.message);
  key(pk, "usage");
  pk.pack_map(3);
  key(pk, "prompt_tokens");
  pk.pack_int32(m.usage.prompt_tokens);
  key(pk, "completion_tokens");
  pk.pack_int32(m.usage.completion_tokens);
  key(pk, "cached_prompt_tokens");
  pk.pack_int32(m.usage.cached_prompt_tokens);
}

void put_body(Packer& pk, const Error& m) {
  pk.pack_map(2);
  key(pk, "code");
  pk.pack_uint16(static_cast<uint16_t>(m.code));
  key(pk, "message");
  put_str(pk, m.message);
}

void put_body(Packer& pk, const StatusReply& m) {
  pk.pack_map(29);
  key(pk, "model");
  put_str(pk, m.model);
  key(pk, "state");
  put_str(pk, m.state);
  key(pk, "sleep_level");
  pk.pack_int32(m.sleep_level);
  key(pk, "error");
  put_str(pk, m.error);
  key(pk, "num_running");
  pk.pack_int32(m.num_running);
  key(pk, "num_waiting");
  pk.pack_int32(m.num_waiting);
  key(pk, "num_kv_blocks_total");
  pk.pack_int32(m.num_kv_blocks_total);
  key(pk, "num_kv_blocks_used");
  pk.pack_int32(m.num_kv_blocks_used);
  key(pk, "num_kv_blocks_cached");
  pk.pack_int32(m.num_kv_blocks_cached);
  key(pk, "kv_block_size");
  pk.pack_int32(m.kv_block_size);
  key(pk, "kv_cache_dtype");
  put_str(pk, m.kv_cache_dtype);
  key(pk, "num_steps");
  pk.pack_uint64(m.num_steps);
  key(pk, "prompt_tokens_total");
  pk.pack_uint64(m.prompt_tokens_total);
  key(pk, "generation_tokens_total");
  pk.pack_uint64(m.generation_tokens_total);
  key(pk, "prefix_query_tokens_total");
  pk.pack_uint64(m.prefix_query_tokens_total);
  key(pk, "prefix_hit_tokens_total");
  pk.pack_uint64(m.prefix_hit_tokens_total);
  key(pk, "num_preemptions_total");
  pk.pack_uint64(m.num_preemptions_total);
  key(pk, "requests_finished_total");
  pk.pack_uint64(m.requests_finished_total);
  key(pk, "num_connections");
  pk.pack_int32(m.num_connections);
  key(pk, "uptime_seconds");
  pk.pack_double(m.uptime_seconds);
  key(pk, "load_progress");
  pk.pack_double(m.load_progress);
  key(pk, "load_bytes_done");
  pk.pack_uint64(m.load_bytes_done);
  key(pk, "load_bytes_total");
  pk.pack_uint64(m.load_bytes_total);
  key(pk, "time_to_first_token");
  put_histogram(pk, m.time_to_first_token);
  key(pk, "inter_token_latency");
  put_histogram(pk, m.inter_token_latency);
  key(pk, "end_to_end_latency");
  put_histogram(pk, m.end_to_end_latency);
  key(pk, "settings");
  pk.pack_array(static_cast<uint32_t>(m.settings.size()));
  for (const Setting& setting : m.settings) {
    pk.pack_map(3);
    key(pk, "name");
    put_str(pk, setting.name);
    key(pk, "value");
    put_str(pk, setting.value);
    key(pk, "source");
    put_str(pk, setting.source);
  }
  key(pk, "kv_tiers");
  pk.pack_array(static_cast<uint32_t>(m.kv_tiers.size()));
  for (const KvTierStatus& tier : m.kv_tiers) {
    pk.pack_map(8);
    key(pk, "name");
    put_str(pk, tier.name);
    key(pk, "budget_bytes");
    pk.pack_uint64(tier.budget_bytes);
    key(pk, "num_blocks");
    pk.pack_uint64(tier.num_blocks);
    key(pk, "num_bytes");
    pk.pack_uint64(tier.num_bytes);
    key(pk, "hits_total");
    pk.pack_uint64(tier.hits_total);
    key(pk, "stores_total");
    pk.pack_uint64(tier.stores_total);
    key(pk, "evictions_total");
    pk.pack_uint64(tier.evictions_total);
    key(pk, "rejected_total");
    pk.pack_uint64(tier.rejected_total);
  }
  key(pk, "kv_tier_restored_tokens_total");
  pk.pack_uint64(m.kv_tier_restored_tokens_total);
}

template <typename Frame>
std::string encode_frame(const Frame& frame, uint8_t base) {
  msgpack::sbuffer buffer;
  Packer pk(&buffer);
  pk.pack_array(3);
  pk.pack_uint8(static_cast<uint8_t>(base + frame.message.index()));
  pk.pack_uint64(frame.id);
  std::visit([&](const auto& body) { put_body(pk, body); }, frame.message);
  return std::string(buffer.data(), buffer.size());
}

// ---- reading ----------------------------------------------------------------------------------

const char* type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a float";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "binary";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    default:
      return "an extension";
  }
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw ProtocolError(path + ": " + what);
}

[[noreturn]] void expected(const std::string& path, const char* want, const msgpack::object& o) {
  fail(path, std::string("expected ") + want + ", got " + type_name(o));
}

int64_t as_int(const msgpack::object& o, const std::string& path, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(path, "integer " + std::to_string(o.via.u64) + " out of range");
    v = static_cast<int64_t>(o.via.u64);
  } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    v = o.via.i64;
  } else {
    expected(path, "an integer", o);
  }
  if (v < lo || v > hi) {
    fail(path, "integer " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]");
  }
  return v;
}

uint64_t as_u64(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) expected(path, "an unsigned integer", o);
  return o.via.u64;
}

double as_number(const msgpack::object& o, const std::string& path) {
  if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) {
    if (!std::isfinite(o.via.f64)) fail(path, "number is not finite");
    return o.via.f64;
  }
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return static_cast<double>(o.via.i64);
  expected(path, "a number", o);
}

bool as_bool(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::BOOLEAN) expected(path, "a boolean", o);
  return o.via.boolean;
}

std::string as_str(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::STR) expected(path, "a string", o);
  return std::string(o.via.str.ptr, o.via.str.size);
}

std::span<const msgpack::object> as_array(const msgpack::object& o, const std::string& path) {
  if (o.type != msgpack::type::ARRAY) expected(path, "an array", o);
  return {o.via.array.ptr, o.via.array.size};
}

std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// A body map; fields looked up by key, absent and nil alike mean "not given".
class MapReader {
 public:
  MapReader(const msgpack::object& o, std::string path) : path_(std::move(path)) {
    if (o.type != msgpack::type::MAP) expected(path_, "a map", o);
    map_ = &o.via.map;
  }
  const msgpack::object* find(std::string_view name) const {
    for (uint32_t i = 0; i < map_->size; ++i) {
      const msgpack::object& k = map_->ptr[i].key;
      if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == name)
        return map_->ptr[i].val.type == msgpack::type::NIL ? nullptr : &map_->ptr[i].val;
    }
    return nullptr;
  }
  std::string path(std::string_view name) const { return path_ + "." + std::string(name); }

  int64_t get_int(std::string_view name, int64_t fallback, int64_t lo, int64_t hi) const {
    const auto* o = find(name);
    return o ? as_int(*o, path(name), lo, hi) : fallback;
  }
  std::optional<int64_t> opt_int(std::string_view name, int64_t lo, int64_t hi) const {
    const auto* o = find(name);
    if (!o) return std::nullopt;
    return as_int(*o, path(name), lo, hi);
  }
  uint64_t get_u64(std::string_view name, uint64_t fallback) const {
    const auto* o = find(name);
    return o ? as_u64(*o, path(name)) : fallback;
  }
  double get_number(std::string_view name, double fallback) const {
    const auto* o = find(name);
    return o ? as_number(*o, path(name)) : fallback;
  }
  std::optional<float> opt_float(std::string_view name) const {
    const auto* o = find(name);
    if (!o) return std::nullopt;
    return static_cast<float>(as_number(*o, path(name)));
  }
  bool get_bool(std::string_view name, bool fallback) const {
    const auto* o = find(name);
    return o ? as_bool(*o, path(name)) : fallback;
  }
  std::string get_str(std::string_view name) const {
    const auto* o = find(name);
    return o ? as_str(*o, path(name)) : std::string();
  }
  std::vector<std::string> get_strs(std::string_view name) const {
    std::vector<std::string> out;
    const auto* o = find(name);
    if (!o) return out;
    const auto items = as_array(*o, path(name));
    for (size_t i = 0; i < items.size(); ++i)
      out.push_back(as_str(items[i], at(path(name), i)));
    return out;
  }
  std::vector<int32_t> get_ids(std::string_view name) const {
    std::vector<int32_t> out;
    const auto* o = find(name);
    if (!o) return out;
    const auto items = as_array(*o, path(name));
    out.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      out.push_back(static_cast<int32_t>(
          as_int(items[i], at(path(name), i), std::numeric_limits<int32_t>::min(),
                 std::numeric_limits<int32_t>::max())));
    }
    return out;
  }

 private:
  const msgpack::object_map* map_ = nullptr;
  std::string path_;
};

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

std::vector<std::pair<int32_t, float>> get_pairs(const msgpack::object& o,
                                                 const std::string& path) {
  std::vector<std::pair<int32_t, float>> out;
  const auto items = as_array(o, path);
  for (size_t i = 0; i < items.size(); ++i) {
    const auto pair = as_array(items[i], at(path, i));
    if (pair.size() != 2) fail(at(path, i), "expected [token id, value]");
    out.emplace_back(static_cast<int32_t>(as_int(pair[0], at(path, i) + "[0]", kInt32Min, kInt32Max)),
                     static_cast<float>(as_number(pair[1], at(path, i) + "[1]")));
  }
  return out;
}

Histogram get_histogram(const MapReader& parent, std::string_view name) {
  Histogram h;
  const auto* o = parent.find(name);
  if (!o) return h;
  MapReader r(*o, parent.path(name));
  if (const auto* b = r.find("bounds")) {
    const auto items = as_array(*b, r.path("bounds"));
    for (size_t i = 0; i < items.size(); ++i)
      h.bounds.push_back(as_number(items[i], at(r.path("bounds"), i)));
  }
  if (const auto* c = r.find("counts")) {
    const auto items = as_array(*c, r.path("counts"));
    for (size_t i = 0; i < items.size(); ++i)
      h.counts.push_back(as_u64(items[i], at(r.path("counts"), i)));
  }
  h.sum = r.get_number("sum", 0.0);
  h.count = r.get_u64("count", 0);
  return h;
}

SamplingOptions read_sampling(const MapReader& parent) {
  SamplingOptions s;
  const auto* o = parent.find("sampling");
  if (!o) return s;
  MapReader r(*o, parent.path("sampling"));
  s.temperature = r.opt_float("temperature");
  // Types only: the ranges are checked by the daemon, as for every frontend.
  if (auto v = r.opt_int("top_k", kInt32Min, kInt32Max)) s.top_k = static_cast<int>(*v);
  s.top_p = r.opt_float("top_p");
  s.min_p = r.opt_float("min_p");
  s.repetition_penalty = r.opt_float("repetition_penalty");
  s.frequency_penalty = static_cast<float>(r.get_number("frequency_penalty", 0.0));
  s.presence_penalty = static_cast<float>(r.get_number("presence_penalty", 0.0));
  if (const auto* seed = r.find("seed")) s.seed = as_u64(*seed, r.path("seed"));
  if (auto v = r.opt_int("max_tokens", kInt32Min, kInt32Max)) s.max_tokens = static_cast<int>(*v);
  s.min_tokens = static_cast<int>(r.get_int("min_tokens", 0, kInt32Min, kInt32Max));
  s.ignore_eos = r.get_bool("ignore_eos", false);
  s.stop_token_ids = r.get_ids("stop_token_ids");
  s.stop = r.get_strs("stop");
  s.logprobs = static_cast<int>(r.get_int("logprobs", -1, kInt32Min, kInt32Max));
  if (const auto* bias = r.find("logit_bias")) s.logit_bias = get_pairs(*bias, r.path("logit_bias"));
  s.bad_words = r.get_strs("bad_words");
  s.allowed_token_ids = r.get_ids("allowed_token_ids");
  if (auto v = r.opt_int("truncate_prompt_tokens", kInt32Min, kInt32Max))
    s.truncate_prompt_tokens = static_cast<int>(*v);
  return s;
}

ClientMessage read_client_body(uint8_t type, const msgpack::object& body) {
  switch (type - kClientTypeBase) {
    case 0: {
      MapReader r(body, "Hello");
      Hello m;
      m.protocol_version = static_cast<uint32_t>(r.get_int("version", 0, 0, UINT32_MAX));
      m.client_name = r.get_str("client");
      return m;
    }
    case 1: {
      MapReader r(body, "Submit");
      Submit m;
      if (const auto* msgs = r.find("messages")) {
        const auto items = as_array(*msgs, r.path("messages"));
        for (size_t i = 0; i < items.size(); ++i) {
          MapReader c(items[i], at(r.path("messages"), i));
          m.messages.push_back(ChatMessage{c.get_str("role"), c.get_str("content"),
                                           c.get_str("reasoning_content"), c.get_str("tool_calls"),
                                           c.get_str("tool_call_id"), c.get_str("name"),
                                           c.get_str("content_json")});
        }
      }
      m.prompt = r.get_str("prompt");
      m.prompt_token_ids = r.get_ids("prompt_token_ids");
      m.sampling = read_sampling(r);
      m.tools_json = r.get_strs("tools");
      m.tool_choice = r.get_str("tool_choice");
      m.add_generation_prompt = r.get_bool("add_generation_prompt", true);
      m.priority = static_cast<int>(r.get_int("priority", 0, kInt32Min, kInt32Max));
      m.chat_template_kwargs_json = r.get_str("chat_template_kwargs");
      m.continue_final_message = r.get_bool("continue_final_message", false);
      m.return_prompt_token_ids = r.get_bool("return_prompt_token_ids", false);
      m.skip_special_tokens = r.get_bool("skip_special_tokens", true);
      m.include_stop_str_in_output = r.get_bool("include_stop_str_in_output", false);
      return m;
    }
    case 2:
      MapReader(body, "Cancel");
      return Cancel{};
    case 3:
      MapReader(body, "Status");
      return StatusQuery{};
    case 4: {
      MapReader r(body, "Sleep");
      return SleepCommand{static_cast<int>(r.get_int("level", 1, 1, 2))};
    }
    case 5:
      MapReader(body, "Wake");
      return WakeCommand{};
    case 6:
      MapReader(body, "ClearCache");
      return ClearCacheCommand{};
    default:
      throw ProtocolError("frame type " + std::to_string(type) + " is not a client message");
  }
}

ServerMessage read_server_body(uint8_t type, const msgpack::object& body) {
  switch (type - kServerTypeBase) {
    case 0: {
      MapReader r(body, "HelloReply");
      HelloReply m;
      m.protocol_version = static_cast<uint32_t>(r.get_int("version", 0, 0, UINT32_MAX));
      m.daemon_version = r.get_str("daemon_version");
      m.model = r.get_str("model");
      m.connection_id = r.get_u64("connection", 0);
      return m;
    }
    case 1: {
      MapReader r(body, "Accepted");
      Accepted m;
      m.engine_request_id = r.get_int("request", 0, 0, std::numeric_limits<int64_t>::max());
      m.prompt_tokens = static_cast<int>(r.get_int("prompt_tokens", 0, 0, kInt32Max));
      m.prompt_token_ids = r.get_ids("prompt_token_ids");
      return m;
    }
    case 2: {
      MapReader r(body, "Delta");
      Delta m;
      m.token_ids = r.get_ids("tokens");
      m.text = r.get_str("text");
      m.reasoning = r.get_str("reasoning");
      if (const auto* calls = r.find("tool_calls")) {
        const auto items = as_array(*calls, r.path("tool_calls"));
        for (size_t i = 0; i < items.size(); ++i) {
          MapReader c(items[i], at(r.path("tool_calls"), i));
          m.tool_calls.push_back(
              ToolCallDelta{static_cast<int>(c.get_int("index", 0, 0, kInt32Max)), c.get_str("id"),
                            c.get_str("name"), c.get_str("arguments")});
        }
      }
      if (const auto* lps = r.find("logprobs")) {
        const std::string path = r.path("logprobs");
        const auto items = as_array(*lps, path);
        for (size_t i = 0; i < items.size(); ++i) {
          const auto entry = as_array(items[i], at(path, i));
          if (entry.size() != 3) fail(at(path, i), "expected [token id, logprob, top]");
          m.logprobs.push_back(TokenLogprobs{
              static_cast<int32_t>(as_int(entry[0], at(path, i) + "[0]", kInt32Min, kInt32Max)),
              static_cast<float>(as_number(entry[1], at(path, i) + "[1]")),
              get_pairs(entry[2], at(path, i) + "[2]")});
        }
      }
      return m;
    }
    case 3: {
      MapReader r(body, "Finished");
      Finished m;
      m.reason = r.get_str("reason");
      m.message = r.get_str("message");
      if (const auto* u = r.find("usage")) {
        MapReader ur(*u, r.path("usage"));
        m.usage.prompt_tokens = static_cast<int>(ur.get_int("prompt_tokens", 0, 0, kInt32Max));
        m.usage.completion_tokens =
            static_cast<int>(ur.get_int("completion_tokens", 0, 0, kInt32Max));
        m.usage.cached_prompt_tokens =
            static_cast<int>(ur.get_int("cached_prompt_tokens", 0, 0, kInt32Max));
      }
      return m;
    }
    case 4: {
      MapReader r(body, "Error");
      return Error{static_cast<ErrorCode>(r.get_int("code", 8, 0, UINT16_MAX)), r.get_str("message")};
    }
    case 5: {
      MapReader r(body, "StatusReply");
      StatusReply m;
      m.model = r.get_str("model");
      m.state = r.get_str("state");
      m.sleep_level = static_cast<int>(r.get_int("sleep_level", 0, 0, 2));
      m.error = r.get_str("error");
      m.num_running = static_cast<int>(r.get_int("num_running", 0, 0, kInt32Max));
      m.num_waiting = static_cast<int>(r.get_int("num_waiting", 0, 0, kInt32Max));
      m.num_kv_blocks_total = static_cast<int>(r.get_int("num_kv_blocks_total", 0, 0, kInt32Max));
      m.num_kv_blocks_used = static_cast<int>(r.get_int("num_kv_blocks_used", 0, 0, kInt32Max));
      m.num_kv_blocks_cached = static_cast<int>(r.get_int("num_kv_blocks_cached", 0, 0, kInt32Max));
      m.kv_block_size = static_cast<int>(r.get_int("kv_block_size", 0, 0, kInt32Max));
      m.kv_cache_dtype = r.get_str("kv_cache_dtype");
      m.num_steps = r.get_u64("num_steps", 0);
      m.prompt_tokens_total = r.get_u64("prompt_tokens_total", 0);
      m.generation_tokens_total = r.get_u64("generation_tokens_total", 0);
      m.prefix_query_tokens_total = r.get_u64("prefix_query_tokens_total", 0);
      m.prefix_hit_tokens_total = r.get_u64("prefix_hit_tokens_total", 0);
      m.num_preemptions_total = r.get_u64("num_preemptions_total", 0);
      m.requests_finished_total = r.get_u64("requests_finished_total", 0);
      m.num_connections = static_cast<int>(r.get_int("num_connections", 0, 0, kInt32Max));
      m.uptime_seconds = r.get_number("uptime_seconds", 0.0);
      m.load_progress = r.get_number("load_progress", 0.0);
      m.load_bytes_done = r.get_u64("load_bytes_done", 0);
      m.load_bytes_total = r.get_u64("load_bytes_total", 0);
      m.time_to_first_token = get_histogram(r, "time_to_first_token");
      m.inter_token_latency = get_histogram(r, "inter_token_latency");
      m.end_to_end_latency = get_histogram(r, "end_to_end_latency");
      if (const auto* list = r.find("settings")) {
        const auto items = as_array(*list, r.path("settings"));
        for (size_t i = 0; i < items.size(); ++i) {
          MapReader sr(items[i], at(r.path("settings"), i));
          m.settings.push_back(
              Setting{sr.get_str("name"), sr.get_str("value"), sr.get_str("source")});
        }
      }
      if (const auto* list = r.find("kv_tiers")) {
        const auto items = as_array(*list, r.path("kv_tiers"));
        for (size_t i = 0; i < items.size(); ++i) {
          MapReader tr(items[i], at(r.path("kv_tiers"), i));
          m.kv_tiers.push_back(KvTierStatus{
              tr.get_str("name"), tr.get_u64("budget_bytes", 0), tr.get_u64("num_blocks", 0),
              tr.get_u64("num_bytes", 0), tr.get_u64("hits_total", 0),
              tr.get_u64("stores_total", 0), tr.get_u64("evictions_total", 0),
              tr.get_u64("rejected_total", 0)});
        }
      }
      m.kv_tier_restored_tokens_total = r.get_u64("kv_tier_restored_tokens_total", 0);
      return m;
    }
    case 6:
      MapReader(body, "Ack");
      return Ack{};
    default:
      throw ProtocolError("frame type " + std::to_string(type) + " is not a daemon message");
  }
}

// Unpacks one msgpack value spanning exactly `bytes` and checks the [type, id, body] shape.
template <typename Frame, typename ReadBody>
Frame decode_frame(std::span<const char> bytes, ReadBody read_body) {
  msgpack::object_handle handle;
  try {
    size_t offset = 0;
    // Every element takes at least one byte, so no honest frame declares more elements than
    // it has bytes; the limit stops a forged header from making the unpacker allocate.
    const size_t max_elements = std::min(kMaxElements, bytes.size());
    const msgpack::unpack_limit limit(max_elements, max_elements, bytes.size(), bytes.size(),
                                      bytes.size(), 32);
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) {
      throw ProtocolError("frame of " + std::to_string(bytes.size()) + " bytes has " +
                          std::to_string(bytes.size() - offset) + " trailing bytes");
    }
  } catch (const ProtocolError&) {
    throw;
  } catch (const std::exception& error) {
    throw ProtocolError("frame of " + std::to_string(bytes.size()) +
                        " bytes is not valid msgpack: " + error.what());
  }
  const msgpack::object& root = handle.get();
  const auto parts = as_array(root, "frame");
  if (parts.size() != 3) fail("frame", "expected [type, id, body], got " + std::to_string(parts.size()) + " elements");
  const auto type = static_cast<uint8_t>(as_int(parts[0], "frame.type", 0, 255));
  Frame frame;
  frame.id = as_u64(parts[1], "frame.id");
  frame.message = read_body(type, parts[2]);
  return frame;
}

}  // namespace

std::string encode(const ClientFrame& frame) { return encode_frame(frame, kClientTypeBase); }
std::string encode(const ServerFrame& frame) { return encode_frame(frame, kServerTypeBase); }

ClientFrame decode_client_frame(std::span<const char> bytes) {
  return decode_frame<ClientFrame>(bytes, read_client_body);
}
ServerFrame decode_server_frame(std::span<const char> bytes) {
  return decode_frame<ServerFrame>(bytes, read_server_body);
}

const char* message_name(const ClientMessage& message) {
  static constexpr std::array<const char*, 7> kNames = {"Hello", "Submit", "Cancel",    "Status",
                                                        "Sleep", "Wake",   "ClearCache"};
  return kNames[message.index()];
}
const char* message_name(const ServerMessage& message) {
  static constexpr std::array<const char*, 7> kNames = {
      "HelloReply", "Accepted", "Delta", "Finished", "Error", "StatusReply", "Ack"};
  return kNames[message.index()];
}

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadFrame:
      return "bad_frame";
    case ErrorCode::kUnsupportedVersion:
      return "unsupported_version";
    case ErrorCode::kBadRequest:
      return "bad_request";
    case ErrorCode::kSlowReader:
      return "slow_reader";
    case ErrorCode::kStopping:
      return "stopping";
    case ErrorCode::kNotSupported:
      return "not_supported";
    case ErrorCode::kUnknownRequest:
      return "unknown_request";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace mm::ipc
