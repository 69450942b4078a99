// --cpu-numerics through the real mmd: both modes serve the bundled model and say which they
// run (the ready line, mmctl status), a bad value stops start-up with an error naming the
// flag, and MMD_CPU_ISA forces the instruction set the fast kernels use.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "tests/integration/daemon/daemon_process.h"

namespace mm {
namespace {

using namespace std::chrono_literals;

const std::string kModel = std::string(MMD_SOURCE_DIR) + "/models/minimax-m2-tiny/fp8-w4a16-g32";

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

CommandResult mmctl(const std::string& args) {
  CommandResult result;
  const std::string command =
      std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl " + args + " </dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Greedy tokens of one prompt, as mmctl prints them (--json).
std::string greedy(const testing::DaemonProcess& daemon) {
  const CommandResult r = mmctl(
      "generate --json --tokens 5,6,7,8,9,10 --max-tokens 8 --temperature 0 --ignore-eos "
      "--socket " +
      daemon.socket_path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"completion_tokens\":8"), std::string::npos) << r.out;
  return r.out;
}

TEST(CpuNumerics, BothModesServeAndSayWhichTheyRun) {
  for (const std::string mode : {"fast", "exact"}) {
    testing::DaemonProcess daemon({"--model", kModel, "--cpu-numerics", mode});
    ASSERT_TRUE(daemon.wait_for_notification("READY=1", 120s)) << daemon.log();
    EXPECT_NE(daemon.log().find("cpu_numerics " + mode + " (flag)"), std::string::npos)
        << daemon.log();
    const CommandResult status = mmctl("status --json --socket " + daemon.socket_path());
    EXPECT_NE(status.out.find("cpu_numerics"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find(mode), std::string::npos) << status.out;
    greedy(daemon);
  }
}

TEST(CpuNumerics, DefaultIsFast) {
  testing::DaemonProcess daemon({"--model", kModel});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 120s)) << daemon.log();
  EXPECT_NE(daemon.log().find("cpu_numerics fast (default)"), std::string::npos) << daemon.log();
}

TEST(CpuNumerics, BadValueIsRefusedNamingTheFlag) {
  testing::DaemonProcess daemon({"--model", kModel, "--cpu-numerics", "fastest"});
  EXPECT_NE(daemon.wait_exit(60s), 0);
  EXPECT_NE(daemon.log().find("--cpu-numerics must be fast or exact, not 'fastest'"),
            std::string::npos)
      << daemon.log();
}

// Every fast path the CPU has gives a working daemon; scalar and AVX2 are forced through
// MMD_CPU_ISA (the AVX2 path is the reference the others are tested against in
// cpu_kernels_test). The paths agree on the greedy tokens of this prompt.
TEST(CpuNumerics, ForcedInstructionSetsServeTheSameGreedyTokens) {
  std::string reference;
  for (const std::string isa : {"avx2", "scalar", "avxvnni", "avx512vnni"}) {
    testing::DaemonProcess daemon({"--model", kModel}, {{"MMD_CPU_ISA", isa}});
    ASSERT_TRUE(daemon.wait_for_notification("READY=1", 120s)) << daemon.log();
    if (daemon.log().find("cpu_isa " + isa + " (MMD_CPU_ISA)") == std::string::npos) {
      std::printf("this CPU lacks %s: mmd fell back (skipped)\n", isa.c_str());
      continue;
    }
    std::printf("fast path %s served\n", isa.c_str());
    std::string out = greedy(daemon);
    // Only the token ids matter; drop per-token timings and log-probabilities if printed.
    const size_t at = out.find("\"tokens\"");
    out = at == std::string::npos ? out : out.substr(at, out.find(']', at) - at);
    if (reference.empty()) {
      reference = out;
    } else {
      EXPECT_EQ(out, reference) << isa;
    }
  }
}

}  // namespace
}  // namespace mm
