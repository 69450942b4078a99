#include "daemon/service/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>
#include <sstream>
#include <utility>
#include <variant>

namespace mm {

namespace {

using Target = std::variant<std::string*, int*, double*, bool*, uint64_t*>;

struct Option {
  const char* name;  // flag name without dashes; the TOML key is the same with '_'
  Target target;
  const char* value;  // what the value is, for --help ("" for a switch)
  const char* help;
};

std::vector<Option> options_of(DaemonConfig& c) {
  return {
      {"model", &c.model, "DIR", "checkpoint folder (Hugging Face layout)"},
      {"served-model-name", &c.served_model_name, "NAME",
       "name clients see (default: folder name)"},
      {"tensor-parallel-size", &c.tensor_parallel_size, "N", "ranks for tensor parallelism (-tp)"},
      {"max-model-len", &c.max_model_len, "TOKENS", "longest prompt + output (0: the model's)"},
      {"max-num-seqs", &c.max_num_seqs, "N", "running sequences per step"},
      {"max-num-batched-tokens", &c.max_num_batched_tokens, "TOKENS", "tokens per step"},
      {"gpu-memory-utilization", &c.gpu_memory_utilization, "FRACTION",
       "share of device memory for mmd"},
      {"kv-cache-dtype", &c.kv_cache_dtype, "DTYPE", "auto, bfloat16, fp8 or float32"},
      {"tool-call-parser", &c.tool_call_parser, "PARSER",
       "tool-call parser, e.g. minimax_m2 (unset: no tool calls)"},
      {"reasoning-parser", &c.reasoning_parser, "PARSER",
       "minimax_m2 or minimax_m2_append_think (unset: reasoning stays in the text)"},
      {"enable-auto-tool-choice", &c.enable_auto_tool_choice, "", "let the model call tools"},
      {"override-generation-config", &c.override_generation_config, "JSON",
       "JSON merged over generation_config.json"},
      {"chat-template", &c.chat_template, "FILE", "chat template file (unset: the checkpoint's)"},
      {"host", &c.host, "ADDRESS", "address the OpenAI HTTP API listens on"},
      {"port", &c.port, "PORT", "port of the OpenAI HTTP API (0: none)"},
      {"api-key", &c.api_key, "KEY", "require 'Authorization: Bearer KEY' on /v1 (unset: open)"},
      {"allowed-origins", &c.allowed_origins, "ORIGINS",
       "CORS origins, comma-separated (*: any; unset: no CORS)"},
      {"http-max-body-bytes", &c.http_max_body_bytes, "BYTES", "largest HTTP request body"},
      {"http-idle-timeout", &c.http_idle_timeout_seconds, "SECONDS",
       "seconds an idle HTTP connection lives"},
      {"http-header-timeout", &c.http_header_timeout_seconds, "SECONDS",
       "seconds a client has to send a request's headers"},
      {"http-body-timeout", &c.http_body_timeout_seconds, "SECONDS",
       "seconds a client has to send a request's body"},
      {"http-max-connections", &c.http_max_connections, "N",
       "HTTP connections at once (0: no cap)"},
      {"allowed-hosts", &c.allowed_hosts, "HOSTS",
       "Host names answered besides loopback's, comma-separated (*: any)"},
      {"max-waiting-requests", &c.max_waiting_requests, "N",
       "HTTP 429 beyond this many (0: no cap)"},
      {"idle-sleep-seconds", &c.idle_sleep_seconds, "SECONDS",
       "sleep after this long idle (0: never)"},
      {"idle-sleep-level", &c.idle_sleep_level, "LEVEL", "1: free KV and weights; 2: also unmap"},
      {"socket", &c.socket, "PATH", "client socket path"},
      {"bus", &c.bus, "BUS", "D-Bus: auto, system, session, none or an address"},
      {"socket-group", &c.socket_group, "GROUP",
       "group whose members may use the socket besides mmd's user and root"},
      {"allow-other-users", &c.allow_other_users, "",
       "open the socket to every local user (default: owner, root, --socket-group)"},
      {"ipc-max-connections", &c.ipc_max_connections, "N",
       "shared-memory clients at once (0: no cap)"},
      {"max-prompt-bytes", &c.max_prompt_bytes, "BYTES",
       "text one prompt or chat may hold before tokenizing (0: no cap)"},
      {"kv-block-size", &c.kv_block_size, "TOKENS", "tokens per KV block"},
      {"num-kv-blocks", &c.num_kv_blocks, "BLOCKS", "KV pool cap in blocks"},
      {"kv-host-cache-bytes", &c.kv_host_cache_bytes, "BYTES",
       "host-memory tier for KV blocks evicted from the pool (0: off)"},
      {"kv-disk-cache-bytes", &c.kv_disk_cache_bytes, "BYTES",
       "disk tier for KV blocks; survives sleep and restart (0: off)"},
      {"kv-disk-cache-dir", &c.kv_disk_cache_dir, "DIR",
       "folder of the disk tier, mode 0700 (default: $STATE_DIRECTORY/kv-cache)"},
      {"device", &c.device, "DEVICE", "compute backend: cpu, cuda, cuda:N, hip or hip:N"},
      {"threads", &c.num_threads, "N", "CPU backend threads (0: one per CPU in the affinity mask)"},
      {"cpu-numerics", &c.cpu_numerics, "MODE",
       "CPU linear kernels: fast (int8 activations, the default) or exact (f32)"},
      {"ipc-ring-bytes", &c.ipc_ring_bytes, "BYTES", "each client's reply ring (power of two)"},
      {"ipc-max-unread-tokens", &c.ipc_max_unread_tokens, "TOKENS",
       "unread tokens after which a request is cancelled"},
      {"drain-timeout", &c.drain_timeout_seconds, "SECONDS", "seconds SIGTERM waits for requests"},
      {"load-report-ms", &c.load_report_ms, "MS", "STATUS= load progress interval for systemd"},
      {"log-level", &c.log_level, "LEVEL", "error, warning, notice, info or debug"},
  };
}

std::string key_of(const char* flag) {
  std::string key = flag;
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

template <typename T>
T parse_number(const std::string& where, const std::string& text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    throw ConfigError(where + ": '" + text + "' is not " +
                      (std::is_floating_point_v<T> ? "a number" : "an integer"));
  }
  return value;
}

void set_from_text(const std::string& where, const Target& target, const std::string& text) {
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *p = text;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (text == "true" || text == "1" || text == "yes") {
            *p = true;
          } else if (text == "false" || text == "0" || text == "no") {
            *p = false;
          } else {
            throw ConfigError(where + ": '" + text + "' is not true or false");
          }
        } else {
          *p = parse_number<T>(where, text);
        }
      },
      target);
}

void set_from_toml(const std::string& where, const Target& target, const toml::node& node) {
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (!node.is_string()) throw ConfigError(where + ": expected a string");
          *p = *node.value<std::string>();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!node.is_boolean()) throw ConfigError(where + ": expected true or false");
          *p = *node.value<bool>();
        } else if constexpr (std::is_same_v<T, double>) {
          if (!node.is_number()) throw ConfigError(where + ": expected a number");
          *p = *node.value<double>();
        } else {
          if (!node.is_integer()) throw ConfigError(where + ": expected an integer");
          const int64_t v = *node.value<int64_t>();
          if (v < 0 && std::is_unsigned_v<T>) throw ConfigError(where + ": must not be negative");
          // TOML integers are 64-bit: one that does not fit the field is refused, not cut.
          if (std::is_signed_v<T> && (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                                      v > static_cast<int64_t>(std::numeric_limits<T>::max())))
            throw ConfigError(where + ": " + std::to_string(v) + " is out of range [" +
                              std::to_string(std::numeric_limits<T>::min()) + ", " +
                              std::to_string(std::numeric_limits<T>::max()) + "]");
          *p = static_cast<T>(v);
        }
      },
      target);
}

}  // namespace

void load_config_file(const std::string& path, DaemonConfig& config) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    std::ostringstream out;
    out << path << ":" << error.source().begin.line << ":" << error.source().begin.column << ": "
        << error.description();
    throw ConfigError(out.str());
  }
  auto options = options_of(config);
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    auto it = std::find_if(options.begin(), options.end(),
                           [&](const Option& o) { return key_of(o.name) == name; });
    const std::string where = path + ":" + std::to_string(node.source().begin.line) + ": " + name;
    if (it == options.end() || name == "config") throw ConfigError(where + ": unknown key");
    set_from_toml(where, it->target, node);
    config.sources[name] = "config";
  }
}

bool parse_command_line(const std::vector<std::string>& args, DaemonConfig& config,
                        std::string& exit_text) {
  // --config first, so that flags override the file whatever their order.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config.config_file = args[i + 1];
    } else if (args[i].rfind("--config=", 0) == 0) {
      config.config_file = args[i].substr(9);
    }
  }
  if (!config.config_file.empty()) load_config_file(config.config_file, config);
  auto options = options_of(config);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      exit_text = usage_text();
      return false;
    }
    if (arg == "--version") {
      exit_text = "mmd 0.1.0\n";
      return false;
    }
    if (arg == "-tp") arg = "--tensor-parallel-size";
    if (arg.rfind("--", 0) != 0) throw ConfigError("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "config") {
      if (!value) ++i;
      continue;
    }
    auto it = std::find_if(options.begin(), options.end(),
                           [&](const Option& o) { return name == o.name; });
    if (it == options.end()) throw ConfigError("unknown flag --" + name + " (see mmd --help)");
    if (!value) {
      if (std::holds_alternative<bool*>(it->target)) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        throw ConfigError("--" + name + " needs a value");
      }
    }
    set_from_text("--" + name, it->target, *value);
    config.sources[key_of(it->name)] = "flag";
  }
  validate(config);
  return true;
}

void validate(const DaemonConfig& c) {
  const auto require = [](bool ok, const std::string& what) {
    if (!ok) throw ConfigError(what);
  };
  require(!c.model.empty(), "no model: give --model DIR or `model = \"DIR\"` in the config file");
  require(c.tensor_parallel_size >= 1, "--tensor-parallel-size must be at least 1");
  require(c.max_model_len >= 0, "--max-model-len must not be negative");
  require(c.max_num_seqs >= 1, "--max-num-seqs must be at least 1");
  require(c.max_num_batched_tokens >= 1, "--max-num-batched-tokens must be at least 1");
  require(c.gpu_memory_utilization > 0.0 && c.gpu_memory_utilization <= 1.0,
          "--gpu-memory-utilization must be in (0, 1]");
  require(c.idle_sleep_seconds >= 0.0, "--idle-sleep-seconds must not be negative");
  // Times in seconds become int64 milliseconds: inf (TOML's `inf`, the flag `inf`) or a huge
  // value would overflow that cast, so each must be finite and at most kMaxSeconds.
  constexpr double kMaxSeconds = 1e9;  // about 31 years
  const std::pair<const char*, double> times[] = {
      {"--idle-sleep-seconds", c.idle_sleep_seconds},
      {"--drain-timeout", c.drain_timeout_seconds},
      {"--http-idle-timeout", c.http_idle_timeout_seconds},
      {"--http-header-timeout", c.http_header_timeout_seconds},
      {"--http-body-timeout", c.http_body_timeout_seconds}};
  for (const auto& [flag, seconds] : times)
    require(!(seconds > kMaxSeconds),
            std::string(flag) + " must be at most 1e9 seconds, not " + std::to_string(seconds));
  require(c.idle_sleep_level == 1 || c.idle_sleep_level == 2, "--idle-sleep-level must be 1 or 2");
  require(c.bus == "auto" || c.bus == "system" || c.bus == "session" || c.bus == "none" ||
              c.bus.starts_with("unix:"),
          "--bus must be auto, system, session, none or a unix: address, not '" + c.bus + "'");
  require(c.kv_block_size >= 1, "--kv-block-size must be at least 1");
  require(c.num_kv_blocks >= 1, "--num-kv-blocks must be at least 1");
  require(c.num_threads >= 0, "--threads must not be negative");
  require(c.cpu_numerics == "fast" || c.cpu_numerics == "exact",
          "--cpu-numerics must be fast or exact, not '" + c.cpu_numerics + "'");
  auto device_is = [&](std::string_view platform) {
    const size_t n = platform.size();
    return c.device == platform ||
           (c.device.starts_with(platform) && c.device.size() > n + 1 && c.device[n] == ':' &&
            c.device.find_first_not_of("0123456789", n + 1) == std::string::npos);
  };
  require(c.device == "cpu" || device_is("cuda") || device_is("hip"),
          "--device must be cpu, cuda, cuda:N, hip or hip:N, not '" + c.device + "'");
  require(c.tensor_parallel_size == 1 || !device_is("hip"),
          "--device " + c.device +
              " with --tensor-parallel-size > 1: HIP ranks need RCCL, which Debian 12 does not "
              "package; run tensor parallelism on cpu or cuda");
  require(c.tensor_parallel_size == 1 || c.device == "cpu" || c.device == "cuda",
          "--device " + c.device +
              " with --tensor-parallel-size > 1: give --device cuda; each rank takes the GPU of "
              "its local rank");
  require(c.ipc_ring_bytes >= 1024 && (c.ipc_ring_bytes & (c.ipc_ring_bytes - 1)) == 0,
          "--ipc-ring-bytes " + std::to_string(c.ipc_ring_bytes) +
              " must be a power of two of at least 1024");
  require(c.ipc_max_unread_tokens >= 1, "--ipc-max-unread-tokens must be at least 1");
  require(c.drain_timeout_seconds >= 0.0, "--drain-timeout must not be negative");
  require(c.load_report_ms >= 1, "--load-report-ms must be at least 1");
  require(c.port >= 0 && c.port <= 65535, "--port must be in [0, 65535]");
  require(c.http_max_body_bytes >= 1024, "--http-max-body-bytes must be at least 1024");
  require(c.http_idle_timeout_seconds > 0.0, "--http-idle-timeout must be positive");
  require(c.http_header_timeout_seconds > 0.0, "--http-header-timeout must be positive");
  require(c.http_body_timeout_seconds > 0.0, "--http-body-timeout must be positive");
  require(c.http_max_connections >= 0, "--http-max-connections must be 0 or more");
  require(c.ipc_max_connections >= 0, "--ipc-max-connections must be 0 or more");
  require(c.max_waiting_requests >= 0, "--max-waiting-requests must not be negative");
  const std::vector<std::string> dtypes = {"auto", "bfloat16", "bf16",
                                           "fp8",  "fp8_e4m3", "float32"};
  require(std::find(dtypes.begin(), dtypes.end(), c.kv_cache_dtype) != dtypes.end(),
          "--kv-cache-dtype '" + c.kv_cache_dtype + "' is not one of auto, bfloat16, fp8, float32");
  const std::vector<std::string> levels = {"error", "warning", "notice", "info", "debug"};
  require(std::find(levels.begin(), levels.end(), c.log_level) != levels.end(),
          "--log-level '" + c.log_level + "' is not one of error, warning, notice, info, debug");
}

std::string source_of(const DaemonConfig& config, const std::string& key,
                      const std::string& otherwise) {
  const auto it = config.sources.find(key);
  return it == config.sources.end() ? otherwise : it->second;
}

namespace {

// An option's default as --help shows it; "" when it has none worth showing (an empty
// string: the option is off or its value comes from elsewhere, as its help says).
std::string default_text(const Target& target) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return *p;
        } else if constexpr (std::is_same_v<T, bool>) {
          return *p ? "true" : "false";
        } else {
          std::ostringstream out;
          out << *p;
          return out.str();
        }
      },
      target);
}

// Appends "  FLAG  TEXT (default: X)" to `out`, the text starting at `column` and wrapped to
// 80 columns; the default stays in one piece.
void add_entry(std::ostringstream& out, const std::string& flag, const std::string& text,
               const std::string& fallback, size_t column) {
  constexpr size_t kWidth = 80;
  std::string line = flag;
  if (line.size() + 1 > column) {  // too long to share a line with its text
    out << line << "\n";
    line.clear();
  }
  std::vector<std::string> words;
  std::istringstream split(text);
  for (std::string word; split >> word;)
    words.push_back(word);
  if (!fallback.empty()) words.push_back("(default: " + fallback + ")");
  bool first_word = true;
  for (const std::string& word : words) {
    const size_t start = std::max(line.size(), column);
    if (!first_word && start + 1 + word.size() > kWidth) {
      out << line << "\n";
      line.clear();
      first_word = true;
    }
    line.resize(std::max(line.size(), column), ' ');
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
  }
  out << line << "\n";
}

}  // namespace

std::string usage_text() {
  DaemonConfig defaults;
  struct Entry {
    std::string flag;
    std::string text;
    std::string fallback;  // the default
  };
  std::vector<Entry> entries;
  for (const Option& o : options_of(defaults)) {
    Entry entry{std::string("  --") + o.name, o.help, default_text(o.target)};
    if (*o.value != '\0') entry.flag += std::string(" ") + o.value;
    entries.push_back(std::move(entry));
  }
  entries.push_back({"  --config FILE", "TOML file read before the flags", ""});
  entries.push_back({"  -tp N", "same as --tensor-parallel-size", ""});
  entries.push_back({"  --help, --version", "this text; mmd's version", ""});
  size_t column = 0;
  for (const Entry& entry : entries)
    column = std::max(column, entry.flag.size() + 2);
  std::ostringstream out;
  out << "usage: mmd [--config FILE] --model DIR [FLAGS]\n\n"
         "Flags (also TOML keys, with '_' for '-'; flags override the file). A switch\n"
         "takes no value, or =true / =false:\n";
  for (const Entry& entry : entries)
    add_entry(out, entry.flag, entry.text, entry.fallback, column);
  return out.str();
}

}  // namespace mm
