// mmd on the bundled FP8-KV checkpoint with its own defaults: --kv-cache-dtype auto runs the
// checkpoint's FP8 E4M3 cache, and every place a user looks (the ready log line, mmctl status,
// D-Bus GetStatus, /metrics) says so and where each setting came from.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "tests/integration/daemon/daemon_process.h"
#include "tests/integration/dbus/subprocess.h"

namespace mm {
namespace {

using namespace std::chrono_literals;

const std::string kKvFp8 =
    std::string(MMD_SOURCE_DIR) + "/models/minimax-m2-tiny/fp8-w4a16-g128-kvfp8";

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

CommandResult shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " </dev/null 2>/dev/null").c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult mmctl(const std::string& args) {
  return shell(std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl " + args);
}

// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// GET `path` from 127.0.0.1:port; the whole response (head and body), "" on failure.
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    ::close(fd);
    return "";
  }
  std::string response;
  char buffer[8192];
  for (;;) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 10000) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
    // Done once the body Content-Length announces is in.
    const size_t head_end = response.find("\r\n\r\n");
    const size_t length_at = response.find("Content-Length: ");
    if (head_end != std::string::npos && length_at != std::string::npos && length_at < head_end) {
      const size_t length = std::stoul(response.substr(length_at + 16));
      if (response.size() >= head_end + 4 + length) break;
    }
  }
  ::close(fd);
  return response;
}

TEST(Settings, DefaultFlagsOnAKvFp8CheckpointRunAndReportItsFp8Cache) {
  char dir_template[] = "/tmp/mmd-settings-test-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(dir_template);
  const std::string config_file = (dir / "mmd.toml").string();
  std::ofstream(config_file) << "max_num_seqs = 8\n";
  // A private bus where there is a dbus-daemon (and a D-Bus frontend in this mmd).
  std::optional<testing::PrivateBus> bus;
#ifdef MMD_TEST_DBUS
  if (std::system("command -v dbus-daemon >/dev/null 2>&1 && command -v gdbus >/dev/null 2>&1") ==
      0)
    bus.emplace(dir);
#endif
  const int port = free_port();
  // No --kv-cache-dtype, no --max-model-len, no --chat-template: mmd's own defaults.
  testing::DaemonProcess daemon({"--model", kKvFp8, "--config", config_file, "--threads", "1",
                                 "--num-kv-blocks", "512", "--host", "127.0.0.1", "--port",
                                 std::to_string(port), "--bus", bus ? bus->address() : "none"},
                                {}, false);
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 120s)) << daemon.log();
  const std::string socket = " --socket " + daemon.socket_path();

  // The ready line names the cache and each source.
  const std::string log = daemon.log();
  const size_t ready = log.find("ready: serving");
  ASSERT_NE(ready, std::string::npos) << log;
  const std::string ready_line = log.substr(ready, log.find('\n', ready) - ready);
  EXPECT_NE(ready_line.find("kv_cache_dtype fp8_e4m3 (checkpoint)"), std::string::npos)
      << ready_line;
  EXPECT_NE(ready_line.find("max_model_len 4096 (checkpoint)"), std::string::npos) << ready_line;
  EXPECT_NE(ready_line.find("max_num_seqs 8 (config)"), std::string::npos) << ready_line;
  EXPECT_NE(ready_line.find("num_kv_blocks 512 (flag)"), std::string::npos) << ready_line;

  // mmctl status --json over shared memory.
  const CommandResult status = mmctl("status --json" + socket);
  ASSERT_EQ(status.exit_code, 0) << status.out;
  const nlohmann::json json = nlohmann::json::parse(status.out);
  EXPECT_EQ(json["kv_cache"]["dtype"], "fp8_e4m3") << status.out;
  const nlohmann::json& settings = json["settings"];
  EXPECT_EQ(settings["kv_cache_dtype"]["value"], "fp8_e4m3") << status.out;
  EXPECT_EQ(settings["kv_cache_dtype"]["source"], "checkpoint") << status.out;
  EXPECT_EQ(settings["kv_cache_scales"]["source"], "checkpoint") << status.out;
  EXPECT_EQ(settings["max_model_len"]["value"], "4096") << status.out;
  EXPECT_EQ(settings["max_model_len"]["source"], "checkpoint") << status.out;
  EXPECT_EQ(settings["chat_template"]["value"], kKvFp8 + "/chat_template.jinja") << status.out;
  EXPECT_EQ(settings["chat_template"]["source"], "checkpoint") << status.out;
  EXPECT_EQ(settings["max_num_seqs"]["source"], "config") << status.out;
  EXPECT_EQ(settings["num_kv_blocks"]["source"], "flag") << status.out;
  EXPECT_EQ(settings["max_num_batched_tokens"]["source"], "default") << status.out;

  // The human form says it too.
  const CommandResult human = mmctl("status" + socket);
  EXPECT_NE(human.out.find("tokens per block, fp8_e4m3"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("fp8_e4m3 (checkpoint)"), std::string::npos) << human.out;

  // The FP8 cache serves: greedy tokens come back.
  const CommandResult generated =
      mmctl("generate --json --tokens 5,6,7 --max-tokens 4 --temperature 0 --ignore-eos" + socket);
  EXPECT_EQ(generated.exit_code, 0) << generated.out;
  EXPECT_NE(generated.out.find("\"completion_tokens\":4"), std::string::npos) << generated.out;

  // /metrics: the cache's dtype and each setting's source as info metrics.
  const std::string metrics = http_get(port, "/metrics");
  EXPECT_NE(metrics.find("mmd_cache_config_info{model_name=\"fp8-w4a16-g128-kvfp8\","
                         "cache_dtype=\"fp8_e4m3\",cache_dtype_source=\"checkpoint\""),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("mmd_setting_info{model_name=\"fp8-w4a16-g128-kvfp8\",name=\"max_model_"
                         "len\",value=\"4096\",source=\"checkpoint\"} 1"),
            std::string::npos)
      << metrics;

  // D-Bus GetStatus.
  if (!bus) {
    std::printf("no D-Bus frontend, dbus-daemon or gdbus: the D-Bus part is skipped\n");
  } else {
    const std::string call = "gdbus call --address '" + bus->address() +
                             "' --dest org.mmd.Engine1 --object-path /org/mmd/Engine1 "
                             "--method org.mmd.Engine1.GetStatus";
    // The name is taken on the frontend's own thread; give it a moment after READY.
    CommandResult reply = shell(call);
    for (int i = 0; i < 100 && reply.exit_code != 0; ++i) {
      std::this_thread::sleep_for(50ms);
      reply = shell(call);
    }
    ASSERT_EQ(reply.exit_code, 0) << reply.out << daemon.log();
    EXPECT_NE(reply.out.find("'kv_cache_dtype': <'fp8_e4m3'>"), std::string::npos) << reply.out;
    EXPECT_NE(reply.out.find("'kv_cache_dtype': ('fp8_e4m3', 'checkpoint')"), std::string::npos)
        << reply.out;
    EXPECT_NE(reply.out.find("'max_model_len': ('4096', 'checkpoint')"), std::string::npos)
        << reply.out;
    // The last load's bytes stay after ready: all of the shards, read.
    uint64_t shard_bytes = 0;
    for (const auto& entry : std::filesystem::directory_iterator(kKvFp8))
      if (entry.path().extension() == ".safetensors") shard_bytes += entry.file_size();
    const std::string bytes = "<uint64 " + std::to_string(shard_bytes) + ">";
    EXPECT_NE(reply.out.find("'load_bytes_done': " + bytes), std::string::npos) << reply.out;
    EXPECT_NE(reply.out.find("'load_bytes_total': " + bytes), std::string::npos) << reply.out;
  }
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(30s), 0) << daemon.log();
  bus.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(Settings, AReplyRingTooSmallForTheSettingsStillGetsTheStatus) {
  testing::DaemonProcess daemon({"--model", kKvFp8, "--threads", "1", "--port", "0", "--bus",
                                 "none", "--ipc-ring-bytes", "1024"},
                                {}, false);
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 120s)) << daemon.log();
  const CommandResult status = mmctl("status --json --socket " + daemon.socket_path());
  ASSERT_EQ(status.exit_code, 0) << status.out << daemon.log();
  const nlohmann::json json = nlohmann::json::parse(status.out);
  EXPECT_EQ(json["kv_cache"]["dtype"], "fp8_e4m3") << status.out;
  EXPECT_TRUE(json["settings"].empty()) << status.out;
}

}  // namespace
}  // namespace mm
