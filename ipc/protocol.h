// The client protocol of mmd, as native C++ values: what a client sends (Hello, Submit, Cancel,
// Status, Sleep, Wake) and what the daemon answers (HelloReply, Accepted, Delta, Finished,
// Error, StatusReply, Ack). codec.h turns these into msgpack frames and back; nothing outside
// ipc/, frontends/ and the client library sees the wire form.
// Plain value types; no thread ownership.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mm::ipc {

// Bumped on any incompatible change of a frame; the daemon refuses a Hello with another major.
inline constexpr uint32_t kProtocolVersion = 1;

// ---- client → daemon -------------------------------------------------------------------------

struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  std::string client_name;  // for the daemon's log
};

// One OpenAI-style chat message. Tool calls and tool definitions travel as JSON text: the
// protocol carries them, the daemon's text layer interprets them.
struct ChatMessage {
  std::string role;  // system, user, assistant, tool
  std::string content;
  std::string reasoning_content;  // an assistant turn's thinking, kept in history
  std::string tool_calls_json;    // an assistant turn's tool calls: a JSON array, or empty
  std::string tool_call_id;       // a tool turn: which call it answers
  std::string name;
  // The content as JSON (an array of {"type":"text","text":...} parts, passed to the chat
  // template as such) instead of `content`; empty: `content` is the text.
  std::string content_json;
};

// Sampling options a client may set; unset fields take the model's generation_config.json,
// then vLLM's defaults.
struct SamplingOptions {
  std::optional<float> temperature;
  std::optional<int> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  std::optional<uint64_t> seed;
  std::optional<int> max_tokens;
  int min_tokens = 0;
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop;
  int logprobs = -1;  // -1: none; n >= 0: the sampled token's and the top n
  std::vector<std::pair<int32_t, float>> logit_bias;
  // vLLM's: words never generated (each tokenized with and without a leading space; the
  // daemon needs the tokenizer), the only ids that may be sampled (empty: any), and keeping
  // only the last N prompt tokens (-1: the last max_model_len; unset: the whole prompt).
  std::vector<std::string> bad_words;
  std::vector<int32_t> allowed_token_ids;
  std::optional<int> truncate_prompt_tokens;
};

// Exactly one of messages, prompt and prompt_token_ids is set.
struct Submit {
  std::vector<ChatMessage> messages;
  std::string prompt;
  std::vector<int32_t> prompt_token_ids;
  SamplingOptions sampling;
  std::vector<std::string> tools_json;  // each an OpenAI tool object as JSON text
  std::string tool_choice;              // "", "auto", "none", "required" or a JSON object
  bool add_generation_prompt = true;
  int priority = 0;  // smaller runs first
  // Chats: extra chat-template variables as a JSON object (vLLM's chat_template_kwargs), and
  // continuing the final assistant message instead of opening a new one.
  std::string chat_template_kwargs_json;
  bool continue_final_message = false;
  bool return_prompt_token_ids = false;  // Accepted carries the prompt's ids
  // How generated ids become Delta text (vLLM's): special tokens such as `]~b]` left out, and
  // a matched stop string kept at the end of the text.
  bool skip_special_tokens = true;
  bool include_stop_str_in_output = false;
};

struct Cancel {};
struct StatusQuery {};
struct SleepCommand {
  int level = 1;
};
struct WakeCommand {};
// Empties the KV tiers under the prefix cache (host memory and disk files); answered by Ack.
struct ClearCacheCommand {};

using ClientMessage =
    std::variant<Hello, Submit, Cancel, StatusQuery, SleepCommand, WakeCommand, ClearCacheCommand>;

// Every frame carries an id chosen by the client: a Submit's id names that request in every
// reply about it (and in its Cancel); a command's id is echoed by its reply.
struct ClientFrame {
  uint64_t id = 0;
  ClientMessage message;
};

// ---- daemon → client -------------------------------------------------------------------------

struct HelloReply {
  uint32_t protocol_version = kProtocolVersion;
  std::string daemon_version;
  std::string model;  // the served model name
  uint64_t connection_id = 0;
};

struct Accepted {
  int64_t engine_request_id = 0;  // as the daemon's log and status name it
  int prompt_tokens = 0;
  std::vector<int32_t> prompt_token_ids;  // when the Submit asked for them
};

struct ToolCallDelta {
  int index = 0;
  std::string id;
  std::string name;
  std::string arguments;  // a piece of the JSON arguments text
};

struct TokenLogprobs {
  int32_t token_id = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;
};

// New output of one request since the previous Delta.
struct Delta {
  std::vector<int32_t> token_ids;
  std::string text;
  std::string reasoning;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<TokenLogprobs> logprobs;  // one per token id when asked for
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;
};

// The last reply about a request that ran: reason "stop", "length", "cancelled" or "error".
struct Finished {
  std::string reason;
  std::string message;  // why, when cancelled or failed
  Usage usage;
};

enum class ErrorCode : uint16_t {
  kBadFrame = 1,            // the frame could not be decoded; the connection is closed
  kUnsupportedVersion = 2,  // Hello named a protocol this daemon does not speak
  kBadRequest = 3,          // a field is out of range or missing; only that request fails
  kSlowReader = 4,          // the client did not read its stream; that request was cancelled
  kStopping = 5,            // the daemon is draining and takes no new requests
  kNotSupported = 6,        // e.g. a text prompt for a model without a tokenizer
  kUnknownRequest = 7,      // Cancel of an id this connection has not submitted
  kInternal = 8,
};
const char* error_code_name(ErrorCode code);

// A request or command failed (id names it), or the connection did (id 0). For a request, an
// Error is its last reply: no Finished follows.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

struct Histogram {
  std::vector<double> bounds;  // seconds; the last count is +Inf
  std::vector<uint64_t> counts;
  double sum = 0.0;
  uint64_t count = 0;
};

// A setting the daemon resolved at start and where its value came from: "flag", "config"
// (the TOML file), "checkpoint" or "default".
struct Setting {
  std::string name;  // the TOML key, e.g. "kv_cache_dtype"
  std::string value;
  std::string source;
};

// One KV tier under the prefix cache ("host", "disk"), as StatusReply reports it.
struct KvTierStatus {
  std::string name;
  uint64_t budget_bytes = 0;
  uint64_t num_blocks = 0;
  uint64_t num_bytes = 0;
  uint64_t hits_total = 0;    // blocks copied back from it (restores)
  uint64_t stores_total = 0;  // blocks it kept
  uint64_t evictions_total = 0;
  uint64_t rejected_total = 0;  // disk: damaged or foreign files deleted
};

struct StatusReply {
  std::string model;
  std::string state;  // loading, ready, sleeping, waking, stopped, failed, draining
  int sleep_level = 0;
  std::string error;
  int num_running = 0;
  int num_waiting = 0;
  int num_kv_blocks_total = 0;
  int num_kv_blocks_used = 0;
  int num_kv_blocks_cached = 0;
  int kv_block_size = 0;
  std::string kv_cache_dtype;  // float32, bfloat16 or fp8_e4m3
  uint64_t num_steps = 0;
  uint64_t prompt_tokens_total = 0;
  uint64_t generation_tokens_total = 0;
  uint64_t prefix_query_tokens_total = 0;
  uint64_t prefix_hit_tokens_total = 0;
  uint64_t num_preemptions_total = 0;
  uint64_t requests_finished_total = 0;
  int num_connections = 0;
  double uptime_seconds = 0.0;
  double load_progress = 0.0;  // 0..1 while loading or waking
  // Loading or waking: checkpoint bytes read so far and the shards' total size (0 when unknown).
  uint64_t load_bytes_done = 0;
  uint64_t load_bytes_total = 0;
  Histogram time_to_first_token;
  Histogram inter_token_latency;
  Histogram end_to_end_latency;
  std::vector<Setting> settings;
  std::vector<KvTierStatus> kv_tiers;  // empty: no tiers
  uint64_t kv_tier_restored_tokens_total = 0;
};

// A Sleep or Wake was taken (the state change follows; Status shows it).
struct Ack {};

using ServerMessage = std::variant<HelloReply, Accepted, Delta, Finished, Error, StatusReply, Ack>;

struct ServerFrame {
  uint64_t id = 0;
  ServerMessage message;
};

}  // namespace mm::ipc
