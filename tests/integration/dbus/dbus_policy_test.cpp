// The packaged bus policy (packaging/dbus/org.mmd.Engine1.conf) on a private bus set up like
// a system bus (deny by default). The names the policy grants are renamed to ones that exist
// on a test machine: user "mmd" becomes root (the service runs as the test's root user) and
// group "mmd" becomes nogroup; every rule is otherwise the packaged file, verbatim.
// Needs root (it runs clients as other users with setpriv).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "daemon/engine/engine.h"
#include "daemon/frontends/dbus/dbus_service.h"
#include "tests/integration/dbus/subprocess.h"

namespace mm {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSystemLikeDefaults = R"(
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
)";

std::string packaged_policy_body() {
  std::ifstream in(std::string(MMD_SOURCE_DIR) + "/packaging/dbus/org.mmd.Engine1.conf");
  std::stringstream text;
  text << in.rdbuf();
  std::string policy = text.str();
  const size_t begin = policy.find("<busconfig>");
  const size_t end = policy.find("</busconfig>");
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  policy = policy.substr(begin + 11, end - begin - 11);
  policy = std::regex_replace(policy, std::regex("user=\"mmd\""), "user=\"root\"");
  policy = std::regex_replace(policy, std::regex("group=\"mmd\""), "group=\"nogroup\"");
  return policy;
}

std::vector<std::string> as_user(const std::string& uid, const std::string& gid,
                                 std::vector<std::string> command) {
  std::vector<std::string> argv = {"setpriv", "--reuid=" + uid, "--regid=" + gid,
                                   "--clear-groups", "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

TEST(DbusPolicy, OnlyGrantedUsersOwnOrCallTheService) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run clients as other users";
  if (std::system("command -v dbus-daemon >/dev/null && command -v busctl >/dev/null && "
                  "command -v setpriv >/dev/null && command -v dbus-send >/dev/null && "
                  "getent group nogroup >/dev/null && id daemon >/dev/null") != 0)
    GTEST_SKIP() << "needs dbus-daemon, dbus-send, busctl, setpriv, group nogroup and user daemon";
  char dir_template[] = "/tmp/mmd-dbus-policy.XXXXXX";
  const std::filesystem::path dir = mkdtemp(dir_template);
  chmod(dir.c_str(), 0755);  // other users must reach the socket
  {
    testing::PrivateBus bus(dir, std::string(kSystemLikeDefaults) + packaged_policy_body());
    EngineOptions options;
    options.model = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";
    options.runner.kv_dtype = KvDType::kF32;
    options.runner.num_threads = 1;
    Engine engine(options);
    ASSERT_TRUE(engine.wait_ready(60s));
    // Owning the name works only because the policy grants it to the service user.
    DbusService service(engine, DbusServiceOptions{.bus = bus.address(), .model = "tiny"});

    const std::vector<std::string> get_status = {
        "busctl", "--address=" + bus.address(), "call", "org.mmd.Engine1", "/org/mmd/Engine1",
        "org.mmd.Engine1", "GetStatus"};
    auto root = testing::run(get_status);
    EXPECT_EQ(root.exit_status, 0) << root.output;
    auto member = testing::run(as_user("65534", "nogroup", get_status));
    EXPECT_EQ(member.exit_status, 0) << "a member of the granted group: " << member.output;
    auto stranger = testing::run(as_user("daemon", "daemon", get_status));
    EXPECT_NE(stranger.exit_status, 0) << stranger.output;
    EXPECT_NE(stranger.output.find("ccess denied"), std::string::npos) << stranger.output;

    // Nobody else may own the name (asked without queueing: the answer is the policy's).
    auto own = testing::run(as_user(
        "65534", "nogroup",
        {"dbus-send", "--address=" + bus.address(), "--print-reply", "--dest=org.freedesktop.DBus",
         "/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName", "string:org.mmd.Engine1",
         "uint32:4"}));
    EXPECT_NE(own.exit_status, 0) << own.output;
    EXPECT_NE(own.output.find("AccessDenied"), std::string::npos) << own.output;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mm
