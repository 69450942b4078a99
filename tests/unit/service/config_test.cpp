// mmd's configuration: TOML file, vLLM-named flags over it, and errors that name the key.
#include "daemon/service/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

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

// Found by fuzz_daemon_config: a TOML integer was cut to the field's 32 bits, so
// num_kv_blocks = 40108946576 loaded as 1454240912 and passed validation; and a time of `inf`
// passed validation, then overflowed its cast to milliseconds.
TEST(Config, NumbersThatDoNotFitTheirFieldAreRefused) {
  const std::string blocks = write_file("model = \"m\"\nnum_kv_blocks = 40108946576\n");
  expect_error({"--config", blocks},
               blocks + ":2: num_kv_blocks: 40108946576 is out of range [-2147483648, 2147483647]");
  const std::string port = write_file("model = \"m\"\nport = 4294967376\n");
  expect_error({"--config", port}, "port: 4294967376 is out of range");
  const std::string drain = write_file("model = \"m\"\ndrain_timeout = inf\n");
  expect_error({"--config", drain}, "--drain-timeout must be at most 1e9 seconds, not inf");
  expect_error({"--model", "m", "--http-idle-timeout", "inf"},
               "--http-idle-timeout must be at most 1e9 seconds");
  expect_error({"--model", "m", "--idle-sleep-seconds", "1e300"},
               "--idle-sleep-seconds must be at most 1e9 seconds");
  // Still fine: 64-bit fields take 64-bit values, times up to the limit.
  DaemonConfig config;
  std::string exit_text;
  const std::string wide =
      write_file("model = \"m\"\nipc_ring_bytes = 4294967296\nidle_sleep_seconds = 1e9\n");
  ASSERT_TRUE(parse_command_line({"--config", wide}, config, exit_text));
  EXPECT_EQ(config.ipc_ring_bytes, uint64_t{1} << 32);
  EXPECT_EQ(config.idle_sleep_seconds, 1e9);
  for (const auto& f : {blocks, port, drain, wide})
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

// Each flag shows what its value is and its default, the texts in one column, 80 wide.
TEST(Config, HelpShowsEachValueAndItsDefaultAligned) {
  DaemonConfig config;
  std::string text;
  EXPECT_FALSE(parse_command_line({"--help"}, config, text));
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  size_t column = 0;
  for (const auto& line : lines) {
    EXPECT_LE(line.size(), 80u) << line;
    EXPECT_EQ(line.find(" V "), std::string::npos) << line;
    if (!line.starts_with("  -")) continue;
    const size_t text_at = line.find_first_not_of(' ', line.find("  ", 2));
    if (column == 0) column = text_at;
    EXPECT_EQ(text_at, column) << "not aligned: " << line;
  }
  EXPECT_GT(column, 0u);
  // An entry's text, its wrapped lines joined.
  auto entry_of = [&](const std::string& flag) {
    std::string entry;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!lines[i].starts_with("  " + flag + " ") && lines[i] != "  " + flag) continue;
      entry = lines[i];
      while (i + 1 < lines.size() && lines[i + 1].starts_with(std::string(column, ' ')))
        entry += " " + lines[++i].substr(column);
    }
    return entry;
  };
  // The defaults are DaemonConfig's own.
  const DaemonConfig defaults;
  EXPECT_NE(entry_of("--port PORT").find("(default: " + std::to_string(defaults.port) + ")"),
            std::string::npos)
      << text;
  EXPECT_NE(entry_of("--max-num-seqs N").find("(default: 64)"), std::string::npos) << text;
  EXPECT_NE(entry_of("--socket PATH").find("(default: /run/mmd/mmd.sock)"), std::string::npos);
  EXPECT_NE(entry_of("--gpu-memory-utilization FRACTION").find("(default: 0.9)"),
            std::string::npos);
  EXPECT_NE(entry_of("--allow-other-users").find("(default: false)"), std::string::npos);
  EXPECT_NE(entry_of("--model DIR").find("checkpoint folder"), std::string::npos);
  EXPECT_EQ(entry_of("--model DIR").find("default"), std::string::npos);  // none to show
  // A switch shows no value to type.
  EXPECT_NE(entry_of("--enable-auto-tool-choice").find("(default: false)"), std::string::npos);
}

}  // namespace
}  // namespace mm
