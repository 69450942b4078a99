// mmd's configuration: one struct filled from a TOML file (e.g. /etc/mmd/mmd.toml) and then
// from command-line flags, which win. Flags use the names vLLM users already type
// (--model, --max-model-len, -tp, ...); TOML keys are the same names with '_' for '-'.
// Plain values; parsed once on the main thread before anything starts.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace mm {

struct DaemonConfig {
  // vLLM's names.
  std::string model;
  std::string served_model_name;  // default: the model folder's name
  int tensor_parallel_size = 1;
  int max_model_len = 0;  // 0: the model's max_position_embeddings
  int max_num_seqs = 64;
  int max_num_batched_tokens = 2048;
  double gpu_memory_utilization = 0.9;
  std::string kv_cache_dtype = "auto";  // auto, bfloat16, fp8 (fp8_e4m3), float32
  std::string tool_call_parser;
  std::string reasoning_parser;
  bool enable_auto_tool_choice = false;
  std::string override_generation_config;  // JSON object
  std::string chat_template;               // a file
  std::string host = "127.0.0.1";          // the OpenAI HTTP API's address
  int port = 8000;                         // 0: no HTTP API
  std::string api_key;                     // empty: none
  std::string allowed_origins;             // CORS, comma-separated ("*": any); empty: off
  // mmd's own.
  std::string config_file;          // --config; read before the other flags are applied
  double idle_sleep_seconds = 0.0;  // 0: never sleep by itself
  int idle_sleep_level = 1;
  std::string socket = "/run/mmd/mmd.sock";
  std::string bus = "auto";          // D-Bus: auto, system, session, none or a unix: address
  std::string socket_group = "mmd";  // its members may connect besides the owner and root
  bool allow_other_users = false;    // true: every local user may
  int ipc_max_connections = 256;
  uint64_t max_prompt_bytes = 16u << 20;  // text of one prompt or chat before tokenizing
  int kv_block_size = 16;
  int num_kv_blocks = 4096;
  // KV tiers under the pool (issue 18): host memory on with a modest budget, disk off unless
  // given a budget; its folder defaults to $STATE_DIRECTORY/kv-cache (systemd's StateDirectory=).
  uint64_t kv_host_cache_bytes = 1ull << 30;
  uint64_t kv_disk_cache_bytes = 0;
  std::string kv_disk_cache_dir;
  std::string device = "cpu";             // compute backend: cpu, cuda[:N] or hip[:N]
  int num_threads = 0;                    // CPU backend threads; 0: one per hardware thread
  std::string cpu_numerics = "fast";      // CPU linear kernels: fast (int8-dot) or exact (f32)
  uint64_t ipc_ring_bytes = 1024 * 1024;  // each client's daemon-to-client ring
  int ipc_max_unread_tokens = 4096;
  double drain_timeout_seconds = 30.0;
  uint64_t http_max_body_bytes = 32 * 1024 * 1024;
  double http_idle_timeout_seconds = 60.0;
  double http_header_timeout_seconds = 10.0;
  double http_body_timeout_seconds = 60.0;
  int http_max_connections = 512;
  std::string allowed_hosts;       // comma-separated; "*": any
  int max_waiting_requests = 0;    // HTTP answers 429 beyond this many waiting (0: no limit)
  int load_report_ms = 1000;       // how often STATUS= reports load progress to systemd
  std::string log_level = "info";  // error, warning, notice, info, debug
  // Where each value set explicitly came from: TOML key → "flag" or "config" (the file).
  // Keys not here keep their default (or, for some, the checkpoint's value).
  std::map<std::string, std::string> sources;
};

// A bad file, key, flag or value; the message names it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads `path` (TOML) into `config`. Unknown keys and wrongly typed values are errors.
void load_config_file(const std::string& path, DaemonConfig& config);
// Applies flags; `--config FILE` is loaded first wherever it appears. Returns false and fills
// `exit_text` for --help / --version. Checks the result (ranges, a model given).
bool parse_command_line(const std::vector<std::string>& args, DaemonConfig& config,
                        std::string& exit_text);
void validate(const DaemonConfig& config);
// "flag" or "config" when `key` (a TOML key, e.g. "kv_cache_dtype") was set explicitly, else
// `otherwise`.
std::string source_of(const DaemonConfig& config, const std::string& key,
                      const std::string& otherwise = "default");

std::string usage_text();

}  // namespace mm
