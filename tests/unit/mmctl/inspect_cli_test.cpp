// Runs the real mmctl binary on the fixture checkpoints, as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace {

struct Result {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

Result run_mmctl(const std::string& args) {
  const std::string command = std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl " + args + " 2>&1";
  Result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.out.append(buffer.data(), got);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string fixture(const std::string& name) {
  return std::string(MMD_FIXTURE_DIR) + "/" + name;
}

TEST(MmctlInspect, TextReportOfTheHybridCheckpoint) {
  const Result r = run_mmctl("inspect " + fixture("tiny-fp8-w4a16-g128-kvfp8"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* needle :
       {"MiniMaxM2ForCausalLM", "layers 2, hidden 128", "compressed-tensors",
        "FP8 E4M3, calibrated per-tensor scales", "FP8 E4M3 W8A8 block 128x128", "| Router gate",
        "F32", "KV per token      BF16 1.00 KiB, FP8 512 B", "Validation    OK"}) {
    EXPECT_NE(r.out.find(needle), std::string::npos) << "missing '" << needle << "' in\n" << r.out;
  }
  // The expert row: both layers, 8 experts x 3 linears x 2 layers x (packed, scale, shape).
  const size_t row = r.out.find("| Experts w1/w2/w3");
  ASSERT_NE(row, std::string::npos);
  const std::string line = r.out.substr(row, r.out.find('\n', row) - row);
  for (const char* cell :
       {"| 0-1 ", "| 144 ", "| 786.43 K ", "| INT4 W4A16 group 128 ", "| I32 "}) {
    EXPECT_NE(line.find(cell), std::string::npos) << "missing '" << cell << "' in " << line;
  }
}

TEST(MmctlInspect, JsonReportOfEveryFixture) {
  for (const char* name :
       {"tiny-bf16", "tiny-fp8", "tiny-fp8-w4a16-g32", "tiny-fp8-w4a16-g128-kvfp8",
        "tiny-bf16-w4a16-g32-lastbf16", "tiny-w4a16-g32-asym-actorder", "tiny-w8a8-int8"}) {
    const Result r = run_mmctl("inspect --json " + fixture(name));
    ASSERT_EQ(r.exit_code, 0) << name << "\n" << r.out;
    const auto report = nlohmann::json::parse(r.out);
    EXPECT_TRUE(report["valid"].get<bool>()) << name;
    EXPECT_EQ(report["architecture"]["num_local_experts"], 8) << name;
    EXPECT_EQ(report["totals"]["kv_bytes_per_token_bf16"], 2 * 2 * 2 * 64 * 2) << name;
    int64_t params = 0;
    for (const auto& row : report["precision"])
      params += row["params"].get<int64_t>();
    EXPECT_EQ(params, report["totals"]["params"].get<int64_t>()) << name;
    // Every format holds the same model: embeddings + lm_head 2 x 256 x 128, final norm 128, and
    // per layer attention 98304, norms 640, router 1024 + bias 8, experts 8 x 3 x 128 x 128;
    // the kvfp8 checkpoint adds one k and one v scale per layer.
    const int64_t kv_scales = std::string(name).find("kvfp8") != std::string::npos ? 4 : 0;
    EXPECT_EQ(params, 1052048 + kv_scales) << name;
  }
}

TEST(MmctlInspect, ShardedCheckpointCountsItsFiles) {
  const Result r = run_mmctl("inspect --json " + fixture("tiny-fp8"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["quant_method"], "fp8");
  EXPECT_EQ(report["totals"]["shards"], 2);
}

TEST(MmctlInspect, BadCheckpointExitsOneAndSaysWhy) {
  const auto folder = std::filesystem::temp_directory_path() / "mmd-test-cli-bad";
  std::filesystem::remove_all(folder);
  std::filesystem::copy(fixture("tiny-bf16"), folder, std::filesystem::copy_options::recursive);
  std::filesystem::resize_file(folder / "model.safetensors", 1000);
  const Result r = run_mmctl("inspect " + folder.string());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("mmctl inspect: error: " + (folder / "model.safetensors").string()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Validation    FAILED"), std::string::npos) << r.out;
  const Result json = run_mmctl("inspect --json " + folder.string() + " 2>/dev/null");
  EXPECT_EQ(json.exit_code, 1);
  std::filesystem::remove_all(folder);
}

TEST(MmctlInspect, UsageErrorsExitTwo) {
  EXPECT_EQ(run_mmctl("inspect").exit_code, 2);
  EXPECT_EQ(run_mmctl("inspect --bogus x").exit_code, 2);
  EXPECT_EQ(run_mmctl("frobnicate").exit_code, 2);
  EXPECT_EQ(run_mmctl("").exit_code, 2);
  EXPECT_EQ(run_mmctl("help").exit_code, 0);
}

TEST(MmctlInspect, MissingFolder) {
  const Result r = run_mmctl("inspect /nonexistent/checkpoint");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("/nonexistent/checkpoint: not a checkpoint folder"), std::string::npos)
      << r.out;
}

}  // namespace
