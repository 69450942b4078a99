// Issue 15, checkpoints: config fields out of their range (max_position_embeddings of 2^31 was
// cut to 32 bits), files that are not regular files (a FIFO hung the loader), an unreadable
// index (an empty optional was dereferenced) and index entries outside the folder.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <string>
#include <vector>

#include "daemon/model/checkpoint.h"
#include "daemon/model/checkpoint_file.h"
#include "daemon/model/load_error.h"
#include "daemon/model/model_config.h"
#include "daemon/model/quant_config.h"
#include "tests/unit/model/safetensors_writer.h"

namespace mm {
namespace {

namespace fs = std::filesystem;
using testing::temp_folder;
using testing::write_text;

const fs::path kTiny = fs::path(MMD_SOURCE_DIR) / "models/minimax-m2-tiny";

std::string read(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The tiny BF16 config.json with `key` set to the JSON text `value`.
std::string tiny_config(const std::string& key, const std::string& value,
                        const std::string& base = "bf16") {
  std::string text = read(kTiny / base / "config.json");
  const std::string needle = "\"" + key + "\": ";
  const size_t at = text.find(needle);
  if (at == std::string::npos) return text.substr(0, text.rfind('}')) + ", " + needle + value + "}";
  const size_t begin = at + needle.size();
  const size_t end = text.find_first_of(",\n", begin);
  return text.replace(begin, end - begin, value);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const LoadError& error) {
    return error.what();
  }
  return "";
}

std::string config_error(const std::string& text) {
  return error_of([&] { parse_model_config(text, "config.json"); });
}

TEST(ConfigRanges, MaxPositionEmbeddingsOf2To31IsRefusedNotTruncated) {
  const std::string error = config_error(tiny_config("max_position_embeddings", "2147483648"));
  EXPECT_NE(error.find("config.json: max_position_embeddings: must be in [1, 1073741824], found "
                       "2147483648"),
            std::string::npos)
      << error;
  EXPECT_NO_THROW(parse_model_config(tiny_config("max_position_embeddings", "1073741824"), "c"));
}

TEST(ConfigRanges, EveryIntegerFieldNamesItsRange) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"hidden_size", "-1"},
                                                        {"hidden_size", "4294967296"},
                                                        {"num_hidden_layers", "100000"},
                                                        {"num_attention_heads", "0"},
                                                        {"num_key_value_heads", "8"},
                                                        {"head_dim", "1000000"},
                                                        {"intermediate_size", "1e12"},
                                                        {"num_local_experts", "1000000"},
                                                        {"num_experts_per_tok", "9"},
                                                        {"vocab_size", "1099511627776"},
                                                        {"num_mtp_modules", "-2"},
                                                        {"eos_token_id", "2048"},
                                                        {"bos_token_id", "-1"},
                                                        {"rotary_dim", "0"}}) {
    const std::string error = config_error(tiny_config(key, value));
    EXPECT_NE(error.find("config.json: " + key + ": must be in ["), std::string::npos)
        << key << "=" << value << ": " << error;
  }
}

TEST(ConfigRanges, NumbersAreFiniteAndInRange) {
  EXPECT_NE(config_error(tiny_config("rope_theta", "-5")).find("rope_theta: must be in"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_config("rms_norm_eps", "3")).find("rms_norm_eps: must be in"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_config("rms_norm_eps", "0")).find("rms_norm_eps: must be positive"),
            std::string::npos);
}

TEST(ConfigRanges, IntegersBeyondInt64AreRefusedWithoutUndefinedCasts) {
  // 2^64-1 arrives as an unsigned integer, 1e19 as a double: both used to reach a cast.
  EXPECT_NE(config_error(tiny_config("num_hidden_layers", "18446744073709551615"))
                .find("num_hidden_layers: integer out of range"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_config("num_hidden_layers", "1e19"))
                .find("num_hidden_layers: number 10000000000000000000"),
            std::string::npos)
      << config_error(tiny_config("num_hidden_layers", "1e19"));
}

TEST(ConfigRanges, GenerationConfig) {
  auto error = [](const std::string& text) {
    return error_of([&] { parse_generation_config(text, "generation_config.json"); });
  };
  EXPECT_NE(error(R"({"temperature": -1})").find("generation_config.json: temperature: must be in"),
            std::string::npos);
  EXPECT_NE(error(R"({"temperature": 1e300})").find("temperature: must be in"), std::string::npos);
  EXPECT_NE(error(R"({"top_p": 1.5})").find("top_p: must be in [0, 1]"), std::string::npos);
  EXPECT_NE(error(R"({"top_p": 0})").find("top_p: must be positive"), std::string::npos);
  EXPECT_NE(error(R"({"top_k": 4294967296})").find("top_k: must be in [-1, 2147483647]"),
            std::string::npos);
  EXPECT_NE(error(R"({"min_p": 2})").find("min_p"), std::string::npos);
  EXPECT_NE(error(R"({"repetition_penalty": 0})").find("repetition_penalty"), std::string::npos);
  EXPECT_NE(error(R"({"max_new_tokens": 0})").find("max_new_tokens: must be in"),
            std::string::npos);
  EXPECT_NE(error(R"({"eos_token_id": [2004, 4294967296]})")
                .find("eos_token_id: item 1 must be in [0, 2147483647]"),
            std::string::npos)
      << error(R"({"eos_token_id": [2004, 4294967296]})");
  EXPECT_NO_THROW(parse_generation_config(read(kTiny / "bf16/generation_config.json"), "g"));
}

TEST(ConfigRanges, QuantizationConfig) {
  auto error = [](const std::string& text) {
    return error_of([&] { QuantConfig::parse(text, "config.json"); });
  };
  EXPECT_NE(error(R"({"quantization_config": {"quant_method": "fp8",
                      "weight_block_size": [1099511627776, 128]}})")
                .find("quantization_config.weight_block_size: must be in [1, 1048576]"),
            std::string::npos);
  const std::string group = R"({"quantization_config": {"quant_method": "compressed-tensors",
      "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": NB, "type": "int",
      "strategy": "group", "group_size": GS}}}}})";
  auto with = [&](const std::string& bits, const std::string& size) {
    std::string text = group;
    text.replace(text.find("NB"), 2, bits);
    text.replace(text.find("GS"), 2, size);
    return text;
  };
  EXPECT_NE(error(with("4", "1099511627776")).find("group_size: must be in [-1, 1048576]"),
            std::string::npos)
      << error(with("4", "1099511627776"));
  EXPECT_NE(error(with("4294967300", "32")).find("num_bits: must be in [1, 64]"),
            std::string::npos);
  EXPECT_EQ(error(with("4", "32")), "");
}

// --- files that are not regular files -------------------------------------------------------

// Runs `f` with a time limit: a FIFO that blocks open() would otherwise hang the test. On
// timeout a writer is opened on `fifo`, which releases the blocked reader.
std::string error_within(const fs::path& fifo, std::function<void()> f) {
  auto result = std::async(std::launch::async, [&] { return error_of(f); });
  if (result.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) {
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    result.wait();
    if (fd >= 0) ::close(fd);
    return "TIMED OUT (blocked on the FIFO)";
  }
  return result.get();
}

fs::path bf16_folder_with(const std::string& name, const std::string& replaced) {
  const fs::path dir = temp_folder(name);
  for (const auto& entry : fs::directory_iterator(kTiny / "bf16")) {
    if (entry.path().filename() != replaced)
      fs::create_symlink(entry.path(), dir / entry.path().filename());
  }
  return dir;
}

TEST(CheckpointFiles, FifoShardIsRefusedWithoutBlocking) {
  const fs::path dir = bf16_folder_with("fifo-shard", "model.safetensors");
  ASSERT_EQ(::mkfifo((dir / "model.safetensors").c_str(), 0600), 0);
  const std::string error = error_within(dir / "model.safetensors", [&] { Checkpoint c(dir); });
  EXPECT_NE(error.find("model.safetensors: is a FIFO, not a regular file"), std::string::npos)
      << error;
  fs::remove_all(dir);
}

TEST(CheckpointFiles, FifoConfigIsRefusedWithoutBlocking) {
  const fs::path dir = bf16_folder_with("fifo-config", "config.json");
  ASSERT_EQ(::mkfifo((dir / "config.json").c_str(), 0600), 0);
  const Checkpoint checkpoint(dir);
  const std::string error =
      error_within(dir / "config.json", [&] { checkpoint.read_text_file("config.json"); });
  EXPECT_NE(error.find("config.json: is a FIFO"), std::string::npos) << error;
  fs::remove_all(dir);
}

TEST(CheckpointFiles, SymlinkLoopsDanglingLinksDirectoriesAndDevices) {
  const fs::path dir = bf16_folder_with("links", "model.safetensors");
  const fs::path shard = dir / "model.safetensors";
  fs::create_symlink("model.safetensors", shard);
  EXPECT_NE(error_of([&] { Checkpoint c(dir); }).find("model.safetensors: symbolic link loop"),
            std::string::npos);
  fs::remove(shard);
  fs::create_symlink("nowhere.safetensors", shard);
  EXPECT_NE(
      error_of([&] { Checkpoint c(dir); }).find("symbolic link to a file that does not exist"),
      std::string::npos);
  fs::remove(shard);
  fs::create_directory(shard);
  EXPECT_NE(error_of([&] { Checkpoint c(dir); }).find("is a directory, not a regular file"),
            std::string::npos);
  fs::remove(shard);
  fs::create_symlink("/dev/zero", shard);
  EXPECT_NE(error_of([&] { Checkpoint c(dir); }).find("is a character device"), std::string::npos);
  fs::remove_all(dir);
}

TEST(CheckpointFiles, SymlinkToARegularFileStillLoads) {  // the Hugging Face cache layout
  const fs::path dir = bf16_folder_with("hf-cache", "");
  EXPECT_NO_THROW(Checkpoint c(dir));
  fs::remove_all(dir);
}

// Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from this (child) process, so that a root
// test is subject to file modes. True when the process now is.
bool drop_file_capabilities() {
  if (::geteuid() != 0) return true;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}) {
    data[cap / 32].effective &= ~(1u << (cap % 32));
    data[cap / 32].permitted &= ~(1u << (cap % 32));
  }
  return ::syscall(SYS_capset, &header, data) == 0;
}

TEST(CheckpointFiles, UnreadableIndexIsAClearError) {
  // Before: read_text_file gave nullopt and open_indexed dereferenced it.
  const fs::path dir = temp_folder("unreadable-index");
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "x.safetensors"}})");
  ::chmod((dir / "model.safetensors.index.json").c_str(), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string message =
        drop_file_capabilities() ? error_of([&] { Checkpoint c(dir); }) : std::string("SKIP");
    (void)!::write(pipe_fds[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, static_cast<size_t>(got));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  fs::permissions(dir / "model.safetensors.index.json", fs::perms::owner_all);
  fs::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status)) << "the loader died of signal " << WTERMSIG(status);
  if (message == "SKIP") GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
  EXPECT_NE(message.find("model.safetensors.index.json: cannot open (Permission denied)"),
            std::string::npos)
      << message;
}

TEST(ShardIndex, EntriesOutsideTheFolderAndDuplicatesAreRefused) {
  auto error = [](const std::string& text) {
    return error_of([&] { parse_shard_index(text, "index.json"); });
  };
  EXPECT_NE(error(R"({"weight_map": {"a": "../x.safetensors"}})").find("outside the folder"),
            std::string::npos);
  EXPECT_NE(error(R"({"weight_map": {"a": "/etc/passwd"}})").find("outside the folder"),
            std::string::npos);
  EXPECT_NE(error(R"({"weight_map": {"a": "."}})").find("outside the folder"), std::string::npos);
  EXPECT_NE(error(R"({"weight_map": {"a": "x", "a": "y"}})").find("lists tensor 'a' twice"),
            std::string::npos);
  EXPECT_NE(error(R"({"weight_map": {}})").find("weight_map is empty"), std::string::npos);
  const ShardIndex index =
      parse_shard_index(R"({"weight_map": {"a": "s2", "b": "s1", "c": "s2"}})", "index.json");
  EXPECT_EQ(index.shard_files, (std::vector<std::string>{"s2", "s1"}));
  EXPECT_EQ(index.entries.size(), 3u);
}

}  // namespace
}  // namespace mm
