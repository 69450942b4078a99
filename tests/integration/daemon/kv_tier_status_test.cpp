// The KV tiers as users see them (issue 18): `mmctl status`, `mmctl cache [--json]`, /metrics
// and D-Bus GetStatus report per-tier blocks, bytes, restores; `mmctl cache clear` and D-Bus
// ClearCache empty them (the disk files go) and the daemon keeps serving.
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
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "tests/integration/daemon/daemon_process.h"
#include "tests/integration/dbus/subprocess.h"

namespace mm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

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

// GET `path` from 127.0.0.1:port with Connection: close; the whole response.
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
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[8192];
  for (;;) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 10000) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

int num_block_files(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    n += entry.path().extension() == ".kvb" ? 1 : 0;
  return n;
}

const nlohmann::json* tier_named(const nlohmann::json& tiers, const std::string& name) {
  for (const auto& tier : tiers) {
    if (tier.at("name") == name) return &tier;
  }
  return nullptr;
}

TEST(KvTierStatus, EveryFrontendReportsTheTiersAndClearEmptiesThem) {
  char pattern[] = "/tmp/mmd-kv-status-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  const fs::path cache = dir / "kv-cache";
  std::optional<testing::PrivateBus> bus;
#ifdef MMD_TEST_DBUS
  if (std::system("command -v dbus-daemon >/dev/null 2>&1 && command -v gdbus >/dev/null 2>&1") ==
      0)
    bus.emplace(dir);
#endif
  const int port = free_port();
  // A pool of 64 blocks of 4 tokens and a host tier of ~20 blocks: two 201-token prompts
  // evict from the pool into host memory, and the host tier overflows onto disk.
  testing::DaemonProcess daemon({"--num-kv-blocks", "64", "--kv-host-cache-bytes", "170000",
                                 "--kv-disk-cache-bytes", "64000000", "--kv-disk-cache-dir",
                                 cache.string(), "--host", "127.0.0.1", "--port",
                                 std::to_string(port), "--bus", bus ? bus->address() : "none"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  const std::string socket = " --socket " + daemon.socket_path();
  std::string first_prompt, second_prompt;
  for (int i = 0; i < 201; ++i) {
    first_prompt += (i ? "," : "") + std::to_string((i * 7) % 200 + 3);
    second_prompt += (i ? "," : "") + std::to_string((i * 13) % 200 + 5);
  }
  const auto generate = [&](const std::string& ids) {
    return mmctl("generate --json --tokens " + ids +
                 " --max-tokens 2 --temperature 0 --ignore-eos" + socket);
  };
  ASSERT_EQ(generate(first_prompt).exit_code, 0);
  ASSERT_EQ(generate(second_prompt).exit_code, 0);
  const CommandResult again = generate(first_prompt);  // restored from host and disk
  ASSERT_EQ(again.exit_code, 0) << again.out;

  const CommandResult json = mmctl("status --json" + socket);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const auto status = nlohmann::json::parse(json.out);
  const auto* host = tier_named(status.at("kv_tiers"), "host");
  const auto* disk = tier_named(status.at("kv_tiers"), "disk");
  ASSERT_TRUE(host && disk) << json.out;
  EXPECT_EQ(host->at("budget_bytes"), 170000);
  EXPECT_GT(host->at("blocks").get<uint64_t>(), 0u);
  EXPECT_LE(host->at("bytes").get<uint64_t>(), 170000u);
  EXPECT_GT(host->at("evicted_blocks_total").get<uint64_t>(), 0u);
  EXPECT_GT(disk->at("stored_blocks_total").get<uint64_t>(), 0u);
  EXPECT_GT(host->at("restored_blocks_total").get<uint64_t>() +
                disk->at("restored_blocks_total").get<uint64_t>(),
            0u)
      << json.out;
  EXPECT_GT(status.at("kv_tier_restored_tokens_total").get<uint64_t>(), 0u);

  const CommandResult human = mmctl("status" + socket);
  EXPECT_NE(human.out.find("KV host"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("KV disk"), std::string::npos) << human.out;

  const std::string metrics = http_get(port, "/metrics");
  EXPECT_NE(metrics.find("mmd_kv_tier_blocks{model_name=\"tiny-bf16\",tier=\"host\"}"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("mmd_kv_tier_restores_total{model_name=\"tiny-bf16\",tier=\"disk\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("# TYPE mmd_kv_tier_restored_tokens_total counter"), std::string::npos);

  ASSERT_GT(num_block_files(cache), 0);
  const CommandResult cleared = mmctl("cache clear --json" + socket);
  ASSERT_EQ(cleared.exit_code, 0) << cleared.out;
  const auto tiers = nlohmann::json::parse(cleared.out);
  for (const auto& tier : tiers)
    EXPECT_EQ(tier.at("blocks"), 0) << cleared.out;
  EXPECT_EQ(num_block_files(cache), 0);
  // The pool's own cached prefixes went too: status counts none, and the prompt computed last
  // (still in the pool before the clear) is recomputed from its first token.
  const auto after_clear = nlohmann::json::parse(mmctl("status --json" + socket).out);
  EXPECT_EQ(after_clear.at("kv_cache").at("blocks_cached"), 0) << after_clear.dump();
  const CommandResult recomputed = generate(first_prompt);
  ASSERT_EQ(recomputed.exit_code, 0) << recomputed.out;
  EXPECT_EQ(nlohmann::json::parse(recomputed.out).at("usage").at("cached_prompt_tokens"), 0)
      << recomputed.out;
  EXPECT_EQ(mmctl("cache bogus" + socket).exit_code, 2);

  if (!bus) {
    std::printf("no D-Bus frontend, dbus-daemon or gdbus: the D-Bus part is skipped\n");
  } else {
    const std::string call = "gdbus call --address '" + bus->address() +
                             "' --dest org.mmd.Engine1 --object-path /org/mmd/Engine1 "
                             "--method org.mmd.Engine1.";
    CommandResult reply = shell(call + "GetStatus");
    for (int i = 0; i < 100 && reply.exit_code != 0; ++i) {
      std::this_thread::sleep_for(50ms);
      reply = shell(call + "GetStatus");
    }
    ASSERT_EQ(reply.exit_code, 0) << reply.out << daemon.log();
    EXPECT_NE(reply.out.find("'kv_tiers'"), std::string::npos) << reply.out;
    EXPECT_NE(reply.out.find("'restores_total'"), std::string::npos) << reply.out;
    ASSERT_GT(num_block_files(cache) + 1, 0);
    EXPECT_EQ(shell(call + "ClearCache").exit_code, 0);
    for (int i = 0; i < 200 && num_block_files(cache) > 0; ++i)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(num_block_files(cache), 0);
  }
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_exit(30s), 0) << daemon.log();
  bus.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace mm
