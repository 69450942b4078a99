// D-Bus chats against a real mmd on the bundled tiny MiniMax-M2 (issue 21): a private
// dbus-daemon, the mmd binary with its reasoning and tool-call parsers, and the generated proxy
// (and busctl, as a user would) as clients. The chat corpus of tests/fixtures/text/
// chat_corpus.json (transformers' token ids) replayed through TokenizeChat and, for the
// tool_choice cases, StartChat; a 4-turn agent loop read from ChatDelta signals; the histories
// agents get wrong. The tiny model knows little: the loop asserts shapes, not wording.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/integration/daemon/daemon_process.h"
#include "tests/integration/dbus/engine_client.h"
#include "tests/integration/dbus/subprocess.h"

namespace mm {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;  // key order as the client wrote it: the prompt depends on it
using Options = std::map<std::string, sdbus::Variant>;
using testing::EngineClient;

constexpr auto kDeadline = 120s;  // generous: CI machines are shared and slow
const std::string kModel = std::string(MMD_SOURCE_DIR) + "/models/minimax-m2-tiny/fp8-w4a16-g32";

json read_corpus() {
  std::ifstream in(std::string(MMD_SOURCE_DIR) + "/tests/fixtures/text/chat_corpus.json");
  return json::parse(in);
}

// A corpus request's fields other than messages, as StartChat / TokenizeChat options: JSON
// values as their text, booleans as b.
Options chat_options(const json& request) {
  Options out;
  for (const auto& item : request.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    if (key == "messages") continue;
    if (key == "tools" || key == "chat_template_kwargs") {
      out[key] = sdbus::Variant(value.dump());
    } else if (key == "tool_choice") {
      out[key] = sdbus::Variant(value.is_string() ? value.get<std::string>() : value.dump());
    } else if (key == "add_generation_prompt" || key == "continue_final_message") {
      out[key] = sdbus::Variant(value.get<bool>());
    } else {
      ADD_FAILURE() << "corpus field '" << key << "' has no D-Bus option";
    }
  }
  return out;
}

// The error name a call fails with ("" when it succeeds), and its message.
template <typename Call>
std::string error_of(Call&& call, std::string* message = nullptr) {
  try {
    call();
  } catch (const sdbus::Error& error) {
    if (message != nullptr) *message = error.getMessage();
    return error.getName();
  }
  return "";
}

// Keys deliberately not in alphabetical order (the prompt keeps the order the client sent).
const json kTools = json::parse(R"([
  {"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the weather forecast for a city.",
    "parameters": {"type": "object", "required": ["city"], "properties": {
      "city": {"type": "string", "description": "City name"},
      "days": {"type": "integer", "description": "Number of forecast days"},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
  {"type": "function", "function": {
    "parameters": {"required": ["expression"], "type": "object", "properties": {
      "expression": {"type": "string", "description": "An arithmetic expression"},
      "precision": {"type": "integer", "minimum": 0, "maximum": 12},
      "angle_unit": {"enum": ["rad", "deg"], "type": "string"}}},
    "name": "calculator",
    "description": "Evaluate an arithmetic expression."}}
])");
const json kQuestion = {{"role", "user"},
                        {"content", "What's the weather in Paris for the next 3 days?"}};

std::set<std::string> properties_of(const std::string& tool) {
  std::set<std::string> out;
  for (const json& t : kTools) {
    if (t["function"]["name"] != tool) continue;
    for (const auto& item : t["function"]["parameters"]["properties"].items())
      out.insert(item.key());
  }
  return out;
}

class DbusChatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v dbus-daemon >/dev/null 2>&1") != 0) return;
    char dir_template[] = "/tmp/mmd-dbus-chat.XXXXXX";
    suite_dir = mkdtemp(dir_template);
    suite_bus = std::make_unique<testing::PrivateBus>(suite_dir);
    // The flags README gives for MiniMax-M2; the name is owned before READY=1.
    suite_daemon = std::make_unique<testing::DaemonProcess>(std::vector<std::string>{
        "--model", kModel, "--reasoning-parser", "minimax_m2", "--enable-auto-tool-choice",
        "--tool-call-parser", "minimax_m2", "--bus", suite_bus->address()});
    suite_ready = suite_daemon->wait_for_notification("READY=1", kDeadline);
  }
  static void TearDownTestSuite() {
    if (suite_daemon) {
      suite_daemon->send_signal(SIGTERM);
      EXPECT_EQ(suite_daemon->wait_exit(30s), 0) << suite_daemon->log();
    }
    suite_daemon.reset();
    suite_bus.reset();
    if (!suite_dir.empty()) std::filesystem::remove_all(suite_dir);
  }
  void SetUp() override {
    if (!suite_bus) GTEST_SKIP() << "dbus-daemon is not installed (Debian package dbus-daemon)";
    ASSERT_TRUE(suite_ready) << suite_daemon->log();
    client_ = std::make_unique<EngineClient>(suite_bus->address());
  }

  // The daemon is still up and answering on the bus.
  void expect_serving() {
    EXPECT_EQ(::kill(suite_daemon->pid(), 0), 0) << suite_daemon->log();
    EXPECT_EQ(client_->State(), "ready");
  }

  // One greedy chat turn, read from its ChatDelta signals until Finished.
  struct Turn {
    testing::ChatOutput out;
    testing::Finished finished;
  };
  Turn chat_turn(const json& messages, const std::string& tool_choice) {
    const uint64_t id =
        client_->StartChat(messages.dump(), {{"tools", sdbus::Variant(kTools.dump())},
                                             {"tool_choice", sdbus::Variant(tool_choice)},
                                             {"max_tokens", sdbus::Variant(int32_t{200})},
                                             {"temperature", sdbus::Variant(0.0)}});
    const auto finished = client_->wait_finished(id, kDeadline);
    EXPECT_TRUE(finished) << "no Finished for request " << id;
    return Turn{client_->chat(id), finished.value_or(testing::Finished{})};
  }

  static inline std::filesystem::path suite_dir;
  static inline std::unique_ptr<testing::PrivateBus> suite_bus;
  static inline std::unique_ptr<testing::DaemonProcess> suite_daemon;
  static inline bool suite_ready = false;
  std::unique_ptr<EngineClient> client_;
};

// Every case of the corpus: TokenizeChat answers transformers' ids; a refused case is
// InvalidArgument naming the problem.
TEST_F(DbusChatTest, CorpusTokenizesAsTransformersDoes) {
  const json corpus = read_corpus();
  int num_valid = 0;
  for (const json& c : corpus) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    const json& request = c["request"];
    const Options options = chat_options(request);
    if (c.contains("error")) {
      std::string message;
      EXPECT_EQ(
          error_of([&] { client_->TokenizeChat(request["messages"].dump(), options); }, &message),
          "org.mmd.Error.InvalidArgument");
      EXPECT_NE(message.find(c["error"].get<std::string>()), std::string::npos) << message;
      // StartChat refuses it the same way, before the engine sees it.
      EXPECT_EQ(error_of([&] { client_->StartChat(request["messages"].dump(), options); }),
                "org.mmd.Error.InvalidArgument");
      continue;
    }
    ++num_valid;
    std::vector<int32_t> ids;
    const std::string error =
        error_of([&] { ids = client_->TokenizeChat(request["messages"].dump(), options); });
    ASSERT_EQ(error, "") << name;
    const auto want = c["prompt_token_ids"].get<std::vector<int32_t>>();
    if (ids != want) {
      size_t i = 0;
      while (i < ids.size() && i < want.size() && ids[i] == want[i])
        ++i;
      ADD_FAILURE() << name << ": token " << i << " of " << want.size() << " differs ("
                    << ids.size() << " tokens)";
    }
  }
  EXPECT_GE(num_valid, 48);
  expect_serving();
}

// The cases with tool_choice (the forced opening is part of the prompt) run: StartChat's
// Finished counts exactly the reference's prompt.
TEST_F(DbusChatTest, ToolChoiceCasesSubmitThePromptTheyTokenize) {
  const json corpus = read_corpus();
  int num_cases = 0;
  for (const json& c : corpus) {
    const json& request = c["request"];
    if (c.contains("error") || !request.contains("tool_choice")) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    ++num_cases;
    Options options = chat_options(request);
    options["max_tokens"] = sdbus::Variant(int32_t{4});
    options["temperature"] = sdbus::Variant(0.0);
    const uint64_t id = client_->StartChat(request["messages"].dump(), options);
    const auto finished = client_->wait_finished(id, kDeadline);
    ASSERT_TRUE(finished);
    EXPECT_NE(finished->reason, "error") << finished->message;
    EXPECT_EQ(finished->prompt_tokens, c["prompt_token_ids"].size());
    EXPECT_EQ(client_->chat(id).token_ids.size(), finished->completion_tokens);
  }
  EXPECT_GE(num_cases, 4);
  expect_serving();
}

// Four turns as an agent runs them (required, auto, named, auto): each assistant message is
// rebuilt from the ChatDelta signals and sent back with a tool message per call.
TEST_F(DbusChatTest, FourTurnAgentLoop) {
  const std::vector<std::string> choices = {
      "required", "auto", R"({"type": "function", "function": {"name": "calculator"}})", "auto"};
  const std::vector<std::string> follow_ups = {
      "Thanks. And what is 12*7?", "And what's the weather in Rome?", "Thank you!", "Bye."};
  json messages = json::array(
      {{{"role", "system"}, {"content", "You are a helpful agent. Use the tools."}}, kQuestion});
  for (size_t turn = 0; turn < choices.size(); ++turn) {
    SCOPED_TRACE("turn " + std::to_string(turn + 1) + ", tool_choice " + choices[turn]);
    const Turn t = chat_turn(messages, choices[turn]);
    ASSERT_TRUE(t.finished.reason == "stop" || t.finished.reason == "length")
        << t.finished.reason << ": " << t.finished.message;
    EXPECT_EQ(t.out.token_ids.size(), t.finished.completion_tokens);
    // Reasoning, answer and calls arrive apart: no markup leaks into the answer.
    for (const char* markup : {"<think>", "</think>", "<minimax:tool_call>", "<invoke"})
      EXPECT_EQ(t.out.content.find(markup), std::string::npos) << markup << " in " << t.out.content;
    const bool forced = turn == 0 || turn == 2;
    if (forced) {
      EXPECT_FALSE(t.out.tool_calls.empty()) << "no tool call: " << t.out.content;
    }
    json message = {{"role", "assistant"}};
    if (!t.out.content.empty()) message["content"] = t.out.content;
    if (!t.out.reasoning.empty()) message["reasoning_content"] = t.out.reasoning;
    // Arguments are JSON objects (the tiny model picks the keys at random: not checked).
    json tool_messages = json::array();
    for (const auto& [index, call] : t.out.tool_calls) {
      EXPECT_FALSE(call.id.empty()) << "call " << index;
      EXPECT_FALSE(properties_of(call.name).empty())
          << "call " << index << " names no offered tool: " << call.name;
      if (turn == 2) {
        EXPECT_EQ(call.name, "calculator");
      }
      const json arguments = json::parse(call.arguments, nullptr, false);
      ASSERT_TRUE(arguments.is_object()) << call.arguments;
      // Arguments go back as the JSON text they streamed as, as OpenAI clients send them.
      message["tool_calls"].push_back(
          {{"id", call.id},
           {"type", "function"},
           {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      tool_messages.push_back(
          {{"role", "tool"},
           {"tool_call_id", call.id},
           {"content", call.name == "get_weather"
                           ? R"({"forecast": ["sunny", "cloudy", "rain"], "unit": "celsius"})"
                           : "84"}});
    }
    messages.push_back(message);
    if (tool_messages.empty()) {
      messages.push_back({{"role", "user"}, {"content", follow_ups[turn]}});
    } else {
      for (const json& m : tool_messages)
        messages.push_back(m);
    }
    expect_serving();
  }
  // The whole history renders again.
  EXPECT_GT(
      client_->TokenizeChat(messages.dump(), {{"tools", sdbus::Variant(kTools.dump())}}).size(),
      100u);
  expect_serving();
}

// The histories agents get wrong are the caller's error, naming the field; the daemon goes on.
TEST_F(DbusChatTest, BadHistoriesAreInvalidArgumentAndTheDaemonStillAnswers) {
  const auto history = [](json tool_calls) {
    return json::array({kQuestion,
                        {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", tool_calls}},
                        {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny"}}});
  };
  const auto call = [](json arguments) {
    return json{{"id", "call_1"},
                {"type", "function"},
                {"function", {{"name", "get_weather"}, {"arguments", arguments}}}};
  };
  const Options tools = {{"tools", sdbus::Variant(kTools.dump())}};
  std::string message;
  EXPECT_EQ(error_of([&] { client_->StartChat(history(json::array({call(5)})).dump(), tools); },
                     &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("messages[1].tool_calls[0].function.arguments"), std::string::npos)
      << message;
  EXPECT_EQ(error_of([&] { client_->StartChat(history(call("{}")).dump(), tools); }, &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("messages[1].tool_calls"), std::string::npos) << message;
  EXPECT_EQ(message.find("has no attribute"), std::string::npos) << message;  // not the template
  EXPECT_EQ(error_of([&] { client_->StartChat(R"([{"role": "wizard", "content": "hi"}])", tools); },
                     &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("messages[0].role"), std::string::npos) << message;
  // Arguments as an object and as its JSON text are the same prompt.
  const json as_text = history(json::array({call(R"({"city": "Paris", "days": 3})")}));
  const json as_object = history(json::array({call({{"city", "Paris"}, {"days", 3}})}));
  EXPECT_EQ(client_->TokenizeChat(as_text.dump(), tools),
            client_->TokenizeChat(as_object.dump(), tools));
  // ...and it runs.
  const uint64_t id = client_->StartChat(
      as_object.dump(),
      {{"tools", sdbus::Variant(kTools.dump())}, {"max_tokens", sdbus::Variant(uint32_t{8})}});
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_NE(finished->reason, "error") << finished->message;
  expect_serving();
}

// A stop string ends a text completion where it matches: Finished says stop, and the text
// streamed is the greedy text up to it.
TEST_F(DbusChatTest, StopStringsEndTextCompletions) {
  const Options greedy = {{"max_tokens", sdbus::Variant(int32_t{40})},
                          {"temperature", sdbus::Variant(0.0)},
                          {"ignore_eos", sdbus::Variant(true)}};
  const uint64_t full_id = client_->StartTextCompletion("The weather in Paris is", greedy);
  ASSERT_TRUE(client_->wait_finished(full_id, kDeadline));
  const std::string full = client_->text(full_id);
  ASSERT_GE(full.size(), 8u) << full;
  const std::string stop = full.substr(full.size() / 2, 2);
  const std::string before = full.substr(0, full.find(stop));
  Options with_stop = greedy;
  with_stop["stop"] = sdbus::Variant(std::vector<std::string>{stop});
  const uint64_t id = client_->StartTextCompletion("The weather in Paris is", with_stop);
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "stop");
  EXPECT_EQ(client_->text(id), before) << "stop " << stop;
  EXPECT_EQ(client_->tokens(id).size(), finished->completion_tokens);
  with_stop["include_stop_str_in_output"] = sdbus::Variant(true);
  const uint64_t kept = client_->StartTextCompletion("The weather in Paris is", with_stop);
  ASSERT_TRUE(client_->wait_finished(kept, kDeadline));
  EXPECT_EQ(client_->text(kept), before + stop);
  expect_serving();
}

// The model fit every frontend applies: max_tokens beyond the context is the caller's error,
// allowed_token_ids restricts what is sampled, truncate_prompt_tokens keeps the prompt's tail.
TEST_F(DbusChatTest, RequestsAreFittedToTheModelAsOverHttpAndShm) {
  std::string message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartTextCompletion("The weather",
                                               {{"max_tokens", sdbus::Variant(int32_t{10000000})}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("'max_tokens' is too large"), std::string::npos) << message;
  const std::vector<int32_t> allowed = {30, 31, 32};
  const uint64_t id = client_->StartTextCompletion(
      "The weather in Paris is", {{"max_tokens", sdbus::Variant(int32_t{12})},
                                  {"ignore_eos", sdbus::Variant(true)},
                                  {"allowed_token_ids", sdbus::Variant(allowed)}});
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  ASSERT_EQ(client_->tokens(id).size(), 12u);
  for (int32_t token : client_->tokens(id))
    EXPECT_TRUE(token >= 30 && token <= 32) << token;
  const uint64_t cut =
      client_->StartTextCompletion("The weather in Paris is lovely in the spring",
                                   {{"max_tokens", sdbus::Variant(int32_t{1})},
                                    {"truncate_prompt_tokens", sdbus::Variant(int32_t{3})}});
  const auto cut_finished = client_->wait_finished(cut, kDeadline);
  ASSERT_TRUE(cut_finished);
  EXPECT_EQ(cut_finished->prompt_tokens, 3u);
  expect_serving();
}

// busctl, as a user counting a prompt's tokens would call it.
TEST_F(DbusChatTest, BusctlTokenizeChat) {
  if (std::system("command -v busctl >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "busctl (systemd) is not installed";
  const json corpus = read_corpus();
  const json* required = nullptr;
  for (const json& c : corpus)
    if (c["name"] == "tool_choice_required") required = &c;
  ASSERT_NE(required, nullptr);
  const json& request = (*required)["request"];
  ASSERT_EQ(request.size(), 3u) << request.dump();  // messages, tools, tool_choice
  const testing::RunResult reply = testing::run(
      {"busctl", "--address=" + suite_bus->address(), "call", "org.mmd.Engine1", "/org/mmd/Engine1",
       "org.mmd.Engine1", "TokenizeChat", "sa{sv}", request["messages"].dump(), "2", "tools", "s",
       request["tools"].dump(), "tool_choice", "s", "required"},
      kDeadline);
  ASSERT_EQ(reply.exit_status, 0) << reply.output;
  // "ai N id id ...": the reference's ids.
  std::istringstream in(reply.output);
  std::string type;
  size_t count = 0;
  in >> type >> count;
  EXPECT_EQ(type, "ai");
  std::vector<int32_t> ids;
  for (int32_t id = 0; in >> id;)
    ids.push_back(id);
  EXPECT_EQ(ids.size(), count);
  EXPECT_EQ(ids, (*required)["prompt_token_ids"].get<std::vector<int32_t>>());

  const testing::RunResult bad =
      testing::run({"busctl", "--address=" + suite_bus->address(), "call", "org.mmd.Engine1",
                    "/org/mmd/Engine1", "org.mmd.Engine1", "TokenizeChat", "sa{sv}",
                    R"([{"role": "wizard", "content": "hi"}])", "0"});
  EXPECT_NE(bad.exit_status, 0);
  EXPECT_NE(bad.output.find("messages[0].role"), std::string::npos) << bad.output;
  expect_serving();
}

}  // namespace
}  // namespace mm
