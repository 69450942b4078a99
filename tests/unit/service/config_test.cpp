// mmd's configuration: TOML file, vLLM-named flags over it, and errors that name the key.
#include "daemon/service/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "daemon/service/engine_setup.h"

namespace mm {
namespace {

std::string write_file(const std::string& text) {
  char path[] = "/tmp/mmd-config-XXXXXX";
  const int fd = ::mkstemp(path);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Config, FlagsOverrideTheFileWhateverTheirOrder) {
  const std::string file = write_file(
      "model = \"/models/m2\"\nmax_model_len = 8192\nidle_sleep_seconds = 300\n"
      "enable_auto_tool_choice = true\nsocket = \"/tmp/x.sock\"\n");
  DaemonConfig config;
  std::string exit_text;
  ASSERT_TRUE(parse_command_line({"--max-model-len", "4096", "--config", file, "-tp", "1",
                                  "--served-model-name=m2", "--gpu-memory-utilization", "0.8"},
                                 config, exit_text));
  EXPECT_EQ(config.model, "/models/m2");
  EXPECT_EQ(config.max_model_len, 4096);
  EXPECT_EQ(config.idle_sleep_seconds, 300.0);
  EXPECT_TRUE(config.enable_auto_tool_choice);
  EXPECT_EQ(config.served_model_name, "m2");
  EXPECT_DOUBLE_EQ(config.gpu_memory_utilization, 0.8);
  EXPECT_EQ(config.socket, "/tmp/x.sock");
  std::remove(file.c_str());
}

void expect_error(const std::vector<std::string>& args, const std::string& needle) {
  DaemonConfig config;
  std::string exit_text;
  try {
    parse_command_line(args, config, exit_text);
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
  }
}

// -tp is checked against the checkpoint: whether it splits that way, naming the layer and the
// sizes that do.
TEST(EngineSetup, TensorParallelSizeIsCheckedAgainstTheCheckpoint) {
  auto error_of = [](int tp) {
    DaemonConfig config;
    config.model = std::string(MMD_FIXTURE_DIR) + "/tiny-fp8-w4a16-g32";
    config.tensor_parallel_size = tp;
    try {
      make_engine_setup(config);
    } catch (const ConfigError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  // The tiny fixture's 2 KV heads of 64 make 64-row k_proj slices at tp 2: half an FP8 block.
  EXPECT_NE(error_of(2).find("model.layers.0.self_attn.k_proj"), std::string::npos) << error_of(2);
  EXPECT_NE(error_of(2).find("sizes that split this checkpoint: 1"), std::string::npos)
      << error_of(2);
  DaemonConfig bf16;
  bf16.model = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";
  bf16.tensor_parallel_size = 2;
  EXPECT_NO_THROW(make_engine_setup(bf16));  // splits; mpirun supplies the ranks (main.cpp)
}

TEST(Config, ErrorsNameTheFlagOrKey) {
  expect_error({"--model", "m", "--max-num-seqs", "many"},
               "--max-num-seqs: 'many' is not an integer");
  expect_error({"--model", "m", "--frobnicate"}, "unknown flag --frobnicate");
  expect_error({"--max-num-seqs", "4"}, "no model");
  expect_error({"--model", "m", "--kv-cache-dtype", "int3"}, "--kv-cache-dtype 'int3'");
  expect_error({"--model", "m", "--ipc-ring-bytes", "3000"}, "must be a power of two");
  const std::string bad_key = write_file("model = \"m\"\nmax_num_seq = 3\n");
  expect_error({"--config", bad_key}, bad_key + ":2: max_num_seq: unknown key");
  const std::string bad_type = write_file("model = 3\n");
  expect_error({"--config", bad_type}, "model: expected a string");
  const std::string bad_syntax = write_file("model = \n");
  expect_error({"--config", bad_syntax}, bad_syntax + ":1:");
  for (const auto& f : {bad_key, bad_type, bad_syntax})
    std::remove(f.c_str());
}

TEST(Config, HelpListsTheVllmFlags) {
  DaemonConfig config;
  std::string text;
  EXPECT_FALSE(parse_command_line({"--help"}, config, text));
  for (const char* flag :
       {"--model", "--served-model-name", "--tensor-parallel-size", "--max-model-len",
        "--max-num-seqs", "--max-num-batched-tokens", "--gpu-memory-utilization",
        "--kv-cache-dtype", "--tool-call-parser", "--reasoning-parser", "--enable-auto-tool-choice",
        "--override-generation-config", "--chat-template", "--idle-sleep-seconds",
        "--idle-sleep-level", "--socket", "--bus"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace mm
