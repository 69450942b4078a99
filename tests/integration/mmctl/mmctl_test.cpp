// The real mmctl binary as a person uses it: every command's --help and --version, `run
// --json`, `generate --tokens` / `--logprobs`, `bench` failure counting, and `chat` (the
// separator between reasoning and answer, /save and /load, --tools with typed results, Ctrl-C
// stopping a reply) against a real mmd on the tiny fixture or the bundled tiny model.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/daemon/daemon_process.h"

namespace {

using namespace std::chrono_literals;
using mm::testing::DaemonProcess;

const std::string kMmctl = std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl";
// The bundled model has a tokenizer and a chat template (the fixture has neither).
const std::string kChatModel = std::string(MMD_SOURCE_DIR) + "/models/minimax-m2-tiny/bf16";

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs mmctl with `args` and `input` on stdin; stdout and stderr apart.
Result mmctl(const std::vector<std::string>& args, const std::string& input = "") {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("mmctl-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/in") << input; }
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open((dir + "/in").c_str(), O_RDONLY);
    const int out = ::open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open((dir + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char*> argv{const_cast<char*>(kMmctl.c_str())};
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(dir + "/out");
  result.err = read_file(dir + "/err");
  std::filesystem::remove_all(dir);
  return result;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

TEST(MmctlHelp, EveryCommandAnswersHelpOnStdout) {
  for (const std::string command :
       {"inspect", "status", "generate", "chat", "bench", "sleep", "wake", "run"}) {
    for (const std::string flag : {"--help", "-h"}) {
      // No daemon is needed, and none is asked: the socket does not exist.
      const Result r = mmctl({command, flag, "--socket", "/nonexistent/mmd.sock"});
      EXPECT_EQ(r.exit_code, 0) << command << " " << flag << ": " << r.err;
      EXPECT_TRUE(r.out.starts_with("usage: mmctl " + command + " ")) << command << ": " << r.out;
      EXPECT_EQ(r.err, "") << command;
      for (const auto& line : lines_of(r.out))
        EXPECT_LE(line.size(), 80u) << command << ": " << line;
    }
  }
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"help"}, {"help", "--help"}}) {
    const Result r = mmctl(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_TRUE(r.out.starts_with("usage: mmctl COMMAND")) << r.out;
    for (const char* command : {"inspect", "status", "generate", "chat", "bench", "run"})
      EXPECT_NE(r.out.find("  " + std::string(command)), std::string::npos) << command;
  }
  const Result chat = mmctl({"help", "chat"});
  EXPECT_EQ(chat.exit_code, 0);
  EXPECT_TRUE(chat.out.starts_with("usage: mmctl chat ")) << chat.out;

  // Usage errors still exit 2, on stderr, and point at --help.
  const Result bad = mmctl({"generate", "--frob"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("mmctl generate --help"), std::string::npos) << bad.err;
  EXPECT_EQ(mmctl({"frob", "--help"}).exit_code, 2);
  EXPECT_EQ(mmctl({}).exit_code, 2);
}

TEST(MmctlHelp, VersionNamesTheRelease) {
  for (const std::string flag : {"--version", "version"}) {
    const Result r = mmctl({flag});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_TRUE(r.out.starts_with("mmctl " MMD_VERSION " ")) << r.out;
    EXPECT_EQ(lines_of(r.out).size(), 1u) << r.out;
  }
}

TEST(MmctlRun, JsonCarriesTheIdsThePlainOutputPrints) {
  const std::string model = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";
  const Result plain = mmctl({"run", model, "--tokens", "5,6,7", "--max-tokens", "5"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const Result json = mmctl({"run", model, "--tokens", "5,6,7", "--max-tokens", "5", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto result = nlohmann::json::parse(json.out);
  ASSERT_EQ(result["tokens"].size(), 5u) << json.out;
  std::string ids;
  for (const auto& id : result["tokens"])
    ids += (ids.empty() ? "" : ",") + std::to_string(id.get<int>());
  EXPECT_EQ(ids + "\n", plain.out);  // greedy: the same ids both times
  EXPECT_EQ(result["prompt_tokens"], 3);
  EXPECT_EQ(result["kv_cache_dtype"], "bf16");
  EXPECT_GT(result["decode_ms"].get<double>(), 0.0);
  EXPECT_EQ(mmctl({"run", model, "--tokens", "5,x"}).exit_code, 2);
}

TEST(MmctlGenerate, TokenPromptsPrintIdsAndLogprobsAreShown) {
  DaemonProcess daemon({"--model", kChatModel});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  const std::vector<std::string> request = {
      "generate",     "--socket", daemon.socket_path(), "--tokens", "5,6,7",
      "--max-tokens", "6",        "--temperature",      "0",        "--ignore-eos"};
  // mmctl(1): a prompt of ids is answered with ids, even from a model with a tokenizer.
  const Result ids = mmctl(request);
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  std::istringstream printed(ids.out);
  std::vector<int> generated;
  for (int id; printed >> id;)
    generated.push_back(id);
  EXPECT_EQ(generated.size(), 6u) << ids.out;
  EXPECT_TRUE(printed.eof()) << "not only ids: " << ids.out;

  auto with_logprobs = request;
  with_logprobs.insert(with_logprobs.end(), {"--logprobs", "2"});
  const Result table = mmctl(with_logprobs);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const auto lines = lines_of(table.out);
  ASSERT_EQ(lines.size(), 1u + 1u + 6u) << table.out;  // the ids, a header, a line per token
  for (size_t i = 0; i < 6; ++i) {
    std::istringstream row(lines[2 + i]);
    int token = -1;
    double logprob = 1.0;
    row >> token >> logprob;
    EXPECT_EQ(token, generated[i]) << lines[2 + i];
    EXPECT_LE(logprob, 0.0) << lines[2 + i];
    EXPECT_EQ(std::count(lines[2 + i].begin(), lines[2 + i].end(), ','), 1) << "two top entries";
  }

  with_logprobs.push_back("--json");
  const Result json = mmctl(with_logprobs);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto result = nlohmann::json::parse(json.out);
  ASSERT_EQ(result["logprobs"].size(), 6u) << json.out;
  for (size_t i = 0; i < 6; ++i) {
    const auto& token = result["logprobs"][i];
    EXPECT_EQ(token["token"], generated[i]);
    ASSERT_EQ(token["top"].size(), 2u);
    // Greedy: the sampled token is the most likely one.
    EXPECT_EQ(token["top"][0]["token"], token["token"]);
    EXPECT_GE(token["top"][0]["logprob"].get<double>(), token["top"][1]["logprob"].get<double>());
  }
}

TEST(MmctlBench, RefusedRequestsCountAsFailed) {
  // A KV pool of 16 tokens (4 blocks of 4) and a model length of 64. A 40-token prompt fits
  // the model but never the pool: the engine takes it and finishes it with reason "error"
  // (a Finished, not an Error frame: the case bench used to count as a success). A 100-token
  // prompt is over the model length: the frontend refuses it with an Error.
  DaemonProcess daemon({"--max-model-len", "64", "--num-kv-blocks", "4"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  const std::vector<std::string> bench = {
      "bench",          "--socket", daemon.socket_path(), "--json", "--concurrency", "2",
      "--num-requests", "6",        "--output-tokens",    "4"};
  for (const auto& [prompt_tokens, why] : {std::pair{"40", "KV cache"}, std::pair{"100", "64"}}) {
    auto refused = bench;
    refused.insert(refused.end(), {"--prompt-tokens", prompt_tokens});
    const Result failing = mmctl(refused);
    EXPECT_EQ(failing.exit_code, 4) << failing.out << failing.err;
    const auto result = nlohmann::json::parse(failing.out);
    EXPECT_EQ(result["num_failed"], 6) << failing.out;
    EXPECT_NE(result["first_error"].get<std::string>().find(why), std::string::npos) << failing.out;
    EXPECT_EQ(result["end_to_end"]["count"], 0);
  }

  // Requests that fit (2 blocks each) all succeed; the plain report says so.
  const Result passing =
      mmctl({"bench", "--socket", daemon.socket_path(), "--concurrency", "2", "--num-requests", "6",
             "--prompt-tokens", "4", "--output-tokens", "4"});
  EXPECT_EQ(passing.exit_code, 0) << passing.err;
  EXPECT_NE(passing.out.find("6 requests (0 failed)"), std::string::npos) << passing.out;
}

TEST(MmctlChat, ReasoningAndAnswerApartAndTheConversationSavedAndLoaded) {
  DaemonProcess daemon({"--model", kChatModel, "--reasoning-parser", "minimax_m2"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  const std::string saved = daemon.dir() + "/first.json";
  const std::string resaved = daemon.dir() + "/second.json";
  const std::vector<std::string> chat = {
      "chat", "--socket", daemon.socket_path(), "--max-tokens", "60", "--temperature", "0"};

  const Result first = mmctl(chat, "Hi there\n/save " + saved + "\n");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // Piped, without colours, the separator still stands between reasoning and answer.
  const size_t separator = first.out.find("\n--- answer ---\n");
  ASSERT_NE(separator, std::string::npos) << first.out;
  const auto conversation = nlohmann::json::parse(read_file(saved));
  ASSERT_EQ(conversation.size(), 2u) << conversation.dump();
  EXPECT_EQ(conversation[0]["role"], "user");
  EXPECT_EQ(conversation[0]["content"], "Hi there");
  EXPECT_EQ(conversation[1]["role"], "assistant");
  const std::string reasoning = conversation[1]["reasoning_content"];
  const std::string answer = conversation[1]["content"];
  ASSERT_FALSE(reasoning.empty());
  EXPECT_EQ(first.out.substr(0, separator), reasoning);
  EXPECT_NE(first.out.find(answer, separator), std::string::npos) << first.out;

  // A second chat continues the saved one; a file that is not there changes nothing.
  const Result second = mmctl(chat, "/load " + daemon.dir() + "/missing.json\n/load " + saved +
                                        "\nAnd you?\n/save " + resaved + "\n");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("missing.json"), std::string::npos) << second.err;
  const auto continued = nlohmann::json::parse(read_file(resaved));
  ASSERT_EQ(continued.size(), 4u) << continued.dump();
  EXPECT_EQ(continued[0], conversation[0]);
  EXPECT_EQ(continued[1], conversation[1]);
  EXPECT_EQ(continued[2]["content"], "And you?");
  EXPECT_EQ(continued[3]["role"], "assistant");

  const Result broken = mmctl(chat, "/load " + resaved + ".nothing\n/save\n");
  EXPECT_EQ(broken.exit_code, 0);
  EXPECT_NE(broken.err.find("/save FILE"), std::string::npos) << broken.err;
}

TEST(MmctlChat, ToolCallsAreShownAndTheirResultsTypedIn) {
  DaemonProcess daemon({"--model", kChatModel, "--reasoning-parser", "minimax_m2",
                        "--enable-auto-tool-choice", "--tool-call-parser", "minimax_m2"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  // A tool the bundled model was trained with (tools/train/gen_data.py).
  const std::string tools = daemon.dir() + "/tools.json";
  std::ofstream(tools) << R"([{"type": "function", "function": {"name": "get_weather",
    "description": "Get the weather forecast for a city.", "parameters": {"type": "object",
    "properties": {"city": {"type": "string", "description": "City name"},
                   "days": {"type": "integer", "description": "Number of forecast days"},
                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"]}}}])";
  const std::string saved = daemon.dir() + "/tools-chat.json";
  const std::string result = R"({"forecast": "sunny, 24 C"})";
  const Result chat = mmctl(
      {"chat", "--socket", daemon.socket_path(), "--tools", tools, "--max-tokens", "150",
       "--temperature", "0"},
      "What's the weather in Paris for the next 3 days?\n" + result + "\n/save " + saved + "\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.out.find("[tool call get_weather("), std::string::npos) << chat.out;
  const auto conversation = nlohmann::json::parse(read_file(saved));
  ASSERT_EQ(conversation.size(), 4u) << conversation.dump(2);
  const auto& call = conversation[1]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(nlohmann::json::parse(call["function"]["arguments"].get<std::string>())["city"],
            "Paris");
  // The typed line went back as the call's result, and the model answered after it.
  EXPECT_EQ(conversation[2]["role"], "tool");
  EXPECT_EQ(conversation[2]["content"], result);
  EXPECT_EQ(conversation[2]["tool_call_id"], call["id"]);
  EXPECT_EQ(conversation[3]["role"], "assistant");
  EXPECT_FALSE(conversation[3]["content"].get<std::string>().empty()) << conversation.dump(2);

  std::ofstream(daemon.dir() + "/not-tools.json") << R"({"name": "get_weather"})";
  const Result bad = mmctl(
      {"chat", "--socket", daemon.socket_path(), "--tools", daemon.dir() + "/not-tools.json"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--tools"), std::string::npos) << bad.err;
}

TEST(MmctlChat, CtrlCStopsTheReplyAndKeepsTheConversation) {
  DaemonProcess daemon({"--model", kChatModel, "--reasoning-parser", "minimax_m2"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  int to_chat[2];
  int from_chat[2];
  ASSERT_EQ(::pipe(to_chat), 0);
  ASSERT_EQ(::pipe(from_chat), 0);
  const std::string err_path = daemon.dir() + "/chat.err";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(to_chat[0], STDIN_FILENO);
    ::dup2(from_chat[1], STDOUT_FILENO);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(err, STDERR_FILENO);
    ::close(to_chat[1]);
    ::close(from_chat[0]);
    // A reply that would run for thousands of tokens, so that it is still streaming.
    ::execl(kMmctl.c_str(), "mmctl", "chat", "--socket", daemon.socket_path().c_str(),
            "--max-tokens", "3900", "--ignore-eos", "--temperature", "0",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_chat[0]);
  ::close(from_chat[1]);
  auto say = [&](const std::string& text) {
    ASSERT_EQ(::write(to_chat[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  };
  std::string shown;
  // Reads what the chat prints until `done(shown)` holds (or 30 s pass).
  auto read_until = [&](const std::function<bool(const std::string&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done(shown) && std::chrono::steady_clock::now() < deadline) {
      pollfd entry{from_chat[0], POLLIN, 0};
      if (::poll(&entry, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(from_chat[0], buffer, sizeof buffer);
      if (n <= 0) break;
      shown.append(buffer, static_cast<size_t>(n));
    }
    return done(shown);
  };
  auto stops = [](const std::string& text) {
    size_t count = 0;
    for (size_t at = text.find("(reply stopped)\n"); at != std::string::npos;
         at = text.find("(reply stopped)\n", at + 1))
      ++count;
    return count;
  };

  // Two turns, each stopped once it streams: the chat goes on after the first.
  for (const std::string question : {"Tell me a long story", "Go on"}) {
    const size_t before = shown.size();
    const size_t stopped_before = stops(shown);
    say(question + "\n");
    ASSERT_TRUE(read_until([&](const std::string& s) { return s.size() > before; }))
        << "the reply did not start: " << shown;
    ::kill(pid, SIGINT);
    ASSERT_TRUE(read_until([&](const std::string& s) { return stops(s) > stopped_before; }))
        << shown;
  }
  const std::string saved = daemon.dir() + "/after.json";
  say("/save " + saved + "\n/exit\n");
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(to_chat[1]);
  ::close(from_chat[0]);
  ASSERT_TRUE(WIFEXITED(status)) << "mmctl chat died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(err_path);
  // Both questions and what was shown of each stopped reply.
  const auto conversation = nlohmann::json::parse(read_file(saved));
  ASSERT_EQ(conversation.size(), 4u) << conversation.dump();
  EXPECT_EQ(conversation[0]["content"], "Tell me a long story");
  EXPECT_EQ(conversation[1]["role"], "assistant");
  EXPECT_EQ(conversation[2]["content"], "Go on");
  EXPECT_EQ(conversation[3]["role"], "assistant");

  // The daemon stopped generating: fewer than the 2 x 3900 tokens asked for.
  const Result status_json = mmctl({"status", "--json", "--socket", daemon.socket_path()});
  const auto s = nlohmann::json::parse(status_json.out);
  EXPECT_LT(s["tokens"]["generation_total"].get<int>(), 2 * 3900) << status_json.out;
}

}  // namespace
