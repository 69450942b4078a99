// Fuzzes mmd's TOML configuration (daemon/service/config.cpp), the file read with --config or
// from /etc/mmd/mmd.toml: every input is either refused with ConfigError or loaded and
// validated into values the daemon can use as they are: each integer key holds exactly the
// number written (nothing cut to 32 bits), and every time in seconds turns into milliseconds
// without overflow (daemon.cpp, engine_setup.cpp and main.cpp multiply by 1000 and cast).
#include <sys/mman.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "daemon/service/config.h"

namespace {

using mm::DaemonConfig;

// The integer keys and the fields they land in.
struct IntKey {
  const char* key;
  int DaemonConfig::*field;
};
constexpr IntKey kIntKeys[] = {
    {"tensor_parallel_size", &DaemonConfig::tensor_parallel_size},
    {"max_model_len", &DaemonConfig::max_model_len},
    {"max_num_seqs", &DaemonConfig::max_num_seqs},
    {"max_num_batched_tokens", &DaemonConfig::max_num_batched_tokens},
    {"port", &DaemonConfig::port},
    {"idle_sleep_level", &DaemonConfig::idle_sleep_level},
    {"ipc_max_connections", &DaemonConfig::ipc_max_connections},
    {"kv_block_size", &DaemonConfig::kv_block_size},
    {"num_kv_blocks", &DaemonConfig::num_kv_blocks},
    {"threads", &DaemonConfig::num_threads},
    {"ipc_max_unread_tokens", &DaemonConfig::ipc_max_unread_tokens},
    {"http_max_connections", &DaemonConfig::http_max_connections},
    {"max_waiting_requests", &DaemonConfig::max_waiting_requests},
    {"load_report_ms", &DaemonConfig::load_report_ms},
};
struct U64Key {
  const char* key;
  uint64_t DaemonConfig::*field;
};
constexpr U64Key kU64Keys[] = {
    {"ipc_ring_bytes", &DaemonConfig::ipc_ring_bytes},
    {"http_max_body_bytes", &DaemonConfig::http_max_body_bytes},
};

// A time in seconds the daemon turns into int64 milliseconds.
bool usable_seconds(double seconds) {
  return std::isfinite(seconds) && seconds >= 0.0 && seconds * 1000.0 < 9.2e18;
}

// The file lives in memory; load_config_file reads it by its /proc path, as it reads any file.
int memory_file() {
  static const int fd = memfd_create("mmd.toml", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memory_file();
  if (ftruncate(fd, 0) != 0) __builtin_trap();
  if (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) __builtin_trap();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  DaemonConfig config;
  config.model = "/m";  // so that validate() goes on to check the rest
  try {
    mm::load_config_file(path, config);
    mm::validate(config);
  } catch (const mm::ConfigError& error) {
    if (std::string(error.what()).empty()) __builtin_trap();
    return 0;
  }

  // Loaded and valid: compare with the document as toml++ reads it.
  const toml::table table =
      toml::parse(std::string_view(reinterpret_cast<const char*>(data), size), path);
  for (const IntKey& k : kIntKeys) {
    if (const auto* node = table.get(k.key); node != nullptr) {
      if (*node->value<int64_t>() != int64_t{config.*k.field}) __builtin_trap();
    }
  }
  for (const U64Key& k : kU64Keys) {
    if (const auto* node = table.get(k.key); node != nullptr) {
      const int64_t v = *node->value<int64_t>();
      if (v < 0 || static_cast<uint64_t>(v) != config.*k.field) __builtin_trap();
    }
  }
  if (!usable_seconds(config.idle_sleep_seconds) || !usable_seconds(config.drain_timeout_seconds) ||
      !usable_seconds(config.http_idle_timeout_seconds) ||
      !usable_seconds(config.http_header_timeout_seconds) ||
      !usable_seconds(config.http_body_timeout_seconds)) {
    __builtin_trap();
  }
  if (!(config.gpu_memory_utilization > 0.0 && config.gpu_memory_utilization <= 1.0))
    __builtin_trap();
  for (const auto& [key, node] : table) {
    if (mm::source_of(config, std::string(key.str())) != "config") __builtin_trap();
  }
  return 0;
}
