// Chats over shared memory against a real mmd on the bundled FP8 checkpoint (issue 21), as a
// libmmclient user sends them: every case of tests/fixtures/text/chat_corpus.json converted from
// its OpenAI JSON into an ipc::Submit must give the token ids transformers gives (and the refused
// cases an Error kBadRequest naming the problem); a 4-turn tool loop (required, auto, named,
// auto) whose history is built from what was streamed; hostile tool histories that fail alone;
// the interleaved-thinking round trip; a loaded tool history sent on by mmctl chat.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "client/libmmclient/mmclient.h"
#include "daemon/text/json_value.h"
#include "daemon/text/tokenizer.h"
#include "tests/integration/daemon/daemon_process.h"

namespace mm {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using text::JsonArray;
using text::JsonObject;
using text::JsonValue;

const std::string kModel = std::string(MMD_SOURCE_DIR) + "/models/minimax-m2-tiny/fp8-w4a16-g32";

// The corpus has a 20 KB message (~8,400 tokens with the tiny model's 2k vocabulary): a context
// of 16384 and KV blocks for 32768 tokens (4 per block).
std::unique_ptr<DaemonProcess> start_daemon() {
  auto daemon = std::make_unique<DaemonProcess>(std::vector<std::string>{
      "--model", kModel, "--reasoning-parser", "minimax_m2", "--enable-auto-tool-choice",
      "--tool-call-parser", "minimax_m2", "--max-model-len", "16384", "--num-kv-blocks", "8192"});
  if (!daemon->wait_for_notification("READY=1", 120s))
    ADD_FAILURE() << "mmd did not become ready:\n" << daemon->log();
  return daemon;
}

std::unique_ptr<client::Client> connect(const DaemonProcess& daemon) {
  client::ConnectOptions options;
  options.socket_path = daemon.socket_path();
  options.client_name = "chat_shm_test";
  return client::Client::connect(options);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i])
    ++i;
  return i;
}

std::string ids_at(const std::vector<int32_t>& ids, size_t from) {
  std::string out = "[";
  for (size_t i = from; i < ids.size() && i < from + 8; ++i)
    out += (i > from ? ", " : "") + std::to_string(ids[i]);
  return out + (from + 8 < ids.size() ? ", ...]" : "]");
}

// ---- an OpenAI chat request as a libmmclient user turns it into a Submit -----------------------

struct Converted {
  ipc::Submit submit;
  std::string skip;  // why this request has no shm form ("" when it has one)
};

std::string string_or_empty(const JsonValue* value) {
  return value != nullptr && value->is_string() ? value->as_string() : std::string();
}

Converted to_submit(const JsonValue& request) {
  Converted out;
  ipc::Submit& submit = out.submit;
  for (const auto& [key, value] : request.as_object()) {
    if (key == "messages") {
      for (const JsonValue& m : value.as_array()) {
        ipc::ChatMessage message;
        for (const auto& [field, v] : m.as_object()) {
          if (field == "role") {
            message.role = v.as_string();
          } else if (field == "content") {
            // A string is `content`; null and text parts go as JSON (content_json).
            if (v.is_string()) {
              message.content = v.as_string();
            } else {
              message.content_json = v.dump();
            }
          } else if (field == "reasoning_content" || field == "reasoning") {
            if (v.is_null()) continue;
            // Over shm an empty reasoning_content is "not set". The template tells "" from
            // absent only when the content holds a </think> (it then takes the thinking from the
            // content): such a case cannot be sent over shm.
            if (v.as_string().empty()) {
              const std::string content = string_or_empty(m.find("content"));
              if (content.find("</think>") != std::string::npos)
                out.skip = "reasoning_content \"\" with </think> in the content";
            }
            message.reasoning_content = v.as_string();
          } else if (field == "tool_calls") {
            // The JSON text of the array as given (string arguments stay strings).
            if (!v.is_null()) message.tool_calls_json = v.dump();
          } else if (field == "tool_call_id") {
            message.tool_call_id = string_or_empty(&v);
          } else if (field == "name") {
            message.name = string_or_empty(&v);
          } else if (!v.is_null()) {
            out.skip = "message field '" + field + "' has no shm form";
          }
        }
        // No content at all is null content, as over HTTP.
        if (m.find("content") == nullptr) message.content_json = "null";
        submit.messages.push_back(std::move(message));
      }
    } else if (key == "tools") {
      for (const JsonValue& tool : value.as_array())
        submit.tools_json.push_back(tool.dump());  // JsonValue keeps the key order
    } else if (key == "tool_choice") {
      if (!value.is_null())
        submit.tool_choice = value.is_string() ? value.as_string() : value.dump();
    } else if (key == "chat_template_kwargs") {
      submit.chat_template_kwargs_json = value.dump();
    } else if (key == "add_generation_prompt") {
      submit.add_generation_prompt = value.as_bool();
    } else if (key == "continue_final_message") {
      submit.continue_final_message = value.as_bool();
    } else {
      out.skip = "request field '" + key + "' has no shm form";
    }
  }
  submit.return_prompt_token_ids = true;
  submit.sampling.max_tokens = 1;
  submit.sampling.temperature = 0.0f;
  return out;
}

// ---- the corpus -------------------------------------------------------------------------------

// The prompt is in Accepted: the request is cancelled then (the corpus's 20 KB case would take a
// long prefill under ASan) and read to its end.
struct Answer {
  std::optional<ipc::Accepted> accepted;
  ipc::Error error;       // when refused
  bool finished = false;  // the last event was Finished
};

Answer accepted(client::Client& client, const ipc::Submit& submit) {
  Answer answer;
  const uint64_t id = client.submit(submit);
  for (;;) {
    std::optional<client::Event> event = client.next(id, 120s);
    if (!event) {
      ADD_FAILURE() << "no reply within 120 s";
      return answer;
    }
    if (event->kind == client::Event::Kind::kAccepted) {
      answer.accepted = std::move(event->accepted);
      client.cancel(id);
    } else if (event->kind == client::Event::Kind::kError) {
      answer.error = std::move(event->error);
      return answer;
    } else if (event->kind == client::Event::Kind::kFinished) {
      answer.finished = true;
      return answer;
    }
  }
}

TEST(ChatShm, CorpusPromptsAreTheReferencesTokens) {
  const JsonValue corpus = JsonValue::parse(
      read_file(std::string(MMD_FIXTURE_DIR) + "/text/chat_corpus.json"), "chat_corpus.json");
  auto daemon = start_daemon();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto client = connect(*daemon);
  int num_valid = 0;
  int num_refused = 0;
  std::vector<std::string> skipped;
  for (const JsonValue& c : corpus.as_array()) {
    const std::string name = c.find("name")->as_string();
    SCOPED_TRACE(name);
    Converted converted = to_submit(*c.find("request"));
    if (!converted.skip.empty()) {
      skipped.push_back(name + " (" + converted.skip + ")");
      continue;
    }
    const Answer answer = accepted(*client, converted.submit);
    if (const JsonValue* error = c.find("error")) {
      ++num_refused;
      ASSERT_FALSE(answer.accepted) << name << ": served, but the reference refuses it ("
                                    << c.find("python_error")->as_string() << ")";
      EXPECT_EQ(answer.error.code, ipc::ErrorCode::kBadRequest) << answer.error.message;
      EXPECT_NE(answer.error.message.find(error->as_string()), std::string::npos)
          << name << ": '" << answer.error.message << "' does not say '" << error->as_string()
          << "' (reference: " << c.find("python_error")->as_string() << ")";
      continue;
    }
    ++num_valid;
    ASSERT_TRUE(answer.accepted) << name << ": " << answer.error.message;
    std::vector<int32_t> want;
    for (const JsonValue& token : c.find("prompt_token_ids")->as_array())
      want.push_back(static_cast<int32_t>(token.as_int()));
    const std::vector<int32_t>& got = answer.accepted->prompt_token_ids;
    if (got != want) {
      const size_t i = first_difference(got, want);
      ADD_FAILURE() << name << ": token " << i << " of " << want.size() << " differs (got "
                    << ids_at(got, i) << ", want " << ids_at(want, i) << "; " << got.size()
                    << " tokens)";
    }
    EXPECT_EQ(answer.accepted->prompt_tokens, static_cast<int>(want.size())) << name;
    EXPECT_TRUE(answer.finished) << name << ": no Finished after the cancel";
  }
  // Every case has an shm form; a new one without must be looked at, not skipped silently.
  EXPECT_TRUE(skipped.empty()) << [&] {
    std::string all;
    for (const auto& s : skipped)
      all += s + "\n";
    return all;
  }();
  EXPECT_GE(num_valid, 71);
  EXPECT_GE(num_refused, 9);
  EXPECT_FALSE(client->status().state.empty());
}

// ---- tool loops -------------------------------------------------------------------------------

// Keys deliberately not in alphabetical order (the prompt keeps the order the client sent).
const std::vector<std::string> kTools = {
    R"({"type": "function", "function": {"name": "get_weather", )"
    R"("description": "Get the weather forecast for a city.", "parameters": {"type": "object", )"
    R"("required": ["city"], "properties": {"city": {"type": "string", "description": "City name"}, )"
    R"("days": {"type": "integer", "description": "Number of forecast days"}, )"
    R"("unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}})",
    R"({"type": "function", "function": {"parameters": {"required": ["expression"], )"
    R"("type": "object", "properties": {"expression": {"type": "string", )"
    R"("description": "An arithmetic expression"}, "precision": {"type": "integer", )"
    R"("minimum": 0, "maximum": 12}, "angle_unit": {"enum": ["rad", "deg"], "type": "string"}}}, )"
    R"("name": "calculator", "description": "Evaluate an arithmetic expression."}})"};
const std::vector<std::string> kToolNames = {"get_weather", "calculator"};

ipc::ChatMessage message(std::string role, std::string content) {
  ipc::ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

struct Turn {
  client::Outcome outcome;
  std::string content;
  std::string reasoning;
  std::vector<ipc::ToolCallDelta> calls;  // assembled from the deltas, by index
};

Turn chat(client::Client& client, const std::vector<ipc::ChatMessage>& messages,
          const std::string& tool_choice, int max_tokens = 200) {
  ipc::Submit submit;
  submit.messages = messages;
  submit.tools_json = kTools;
  submit.tool_choice = tool_choice;
  submit.sampling.temperature = 0.0f;
  submit.sampling.max_tokens = max_tokens;
  Turn turn;
  const uint64_t id = client.submit(submit);
  turn.outcome = client.stream(
      id,
      [&](const ipc::Delta& d) {
        turn.content += d.text;
        turn.reasoning += d.reasoning;
        for (const ipc::ToolCallDelta& piece : d.tool_calls) {
          if (piece.index < 0 || piece.index > 64) {
            ADD_FAILURE() << "tool call index " << piece.index;
            continue;
          }
          while (turn.calls.size() <= static_cast<size_t>(piece.index))
            turn.calls.push_back({static_cast<int>(turn.calls.size()), "", "", ""});
          ipc::ToolCallDelta& call = turn.calls[static_cast<size_t>(piece.index)];
          if (!piece.id.empty()) call.id = piece.id;
          call.name += piece.name;
          call.arguments += piece.arguments;
        }
      },
      300s);
  return turn;
}

// The assistant message a client appends: what streamed, tool calls as OpenAI's JSON array
// with the arguments as JSON text.
ipc::ChatMessage assistant_message(const Turn& turn) {
  ipc::ChatMessage m = message("assistant", turn.content);
  m.reasoning_content = turn.reasoning;
  if (!turn.calls.empty()) {
    JsonArray calls;
    for (const ipc::ToolCallDelta& call : turn.calls) {
      calls.push_back(JsonValue(JsonObject{
          {"id", JsonValue(call.id)},
          {"type", JsonValue("function")},
          {"function", JsonValue(JsonObject{{"name", JsonValue(call.name)},
                                            {"arguments", JsonValue(call.arguments)}})}}));
    }
    m.tool_calls_json = JsonValue(std::move(calls)).dump();
  }
  return m;
}

ipc::ChatMessage tool_answer(const ipc::ToolCallDelta& call) {
  ipc::ChatMessage m = message(
      "tool", call.name == "get_weather" ? R"({"forecast": ["sunny", "cloudy", "rain"]})" : "84");
  m.tool_call_id = call.id;
  return m;
}

void check_calls(const Turn& turn, const std::string& tool_choice) {
  const bool forced = tool_choice != "auto";
  if (forced) {
    EXPECT_FALSE(turn.calls.empty()) << "tool_choice " << tool_choice << " gave no call";
  }
  for (const ipc::ToolCallDelta& call : turn.calls) {
    EXPECT_FALSE(call.id.empty());
    EXPECT_NE(std::find(kToolNames.begin(), kToolNames.end(), call.name), kToolNames.end())
        << "'" << call.name << "' is not one of the tools";
    if (tool_choice.starts_with("{")) {
      EXPECT_EQ(call.name, "calculator");
    }
    try {
      EXPECT_TRUE(JsonValue::parse(call.arguments).is_object()) << call.arguments;
    } catch (const std::exception& error) {
      ADD_FAILURE() << "arguments of " << call.name << " are not JSON: '" << call.arguments
                    << "': " << error.what();
    }
  }
}

TEST(ChatShm, FourTurnToolLoopWithHistoryFromTheStream) {
  auto daemon = start_daemon();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto client = connect(*daemon);
  std::vector<ipc::ChatMessage> messages = {
      message("system", "You are a helpful agent. Use the tools."),
      message("user", "What's the weather in Paris for the next 3 days?")};
  const std::vector<std::string> choices = {
      "required", "auto", R"({"type":"function","function":{"name":"calculator"}})", "auto"};
  const std::vector<std::string> follow_ups = {
      "Thanks. And what is 12*7?", "And what's the weather in Rome?", "Thank you!", "Bye."};
  int num_calls = 0;
  for (size_t t = 0; t < choices.size(); ++t) {
    SCOPED_TRACE("turn " + std::to_string(t + 1) + ", tool_choice " + choices[t]);
    const Turn turn = chat(*client, messages, choices[t]);
    ASSERT_TRUE(turn.outcome.ok) << turn.outcome.error.message;
    EXPECT_TRUE(turn.outcome.finished.reason == "stop" || turn.outcome.finished.reason == "length")
        << turn.outcome.finished.reason;
    check_calls(turn, choices[t]);
    std::printf("turn %zu (%s): %s, %zu calls", t + 1, choices[t].c_str(),
                turn.outcome.finished.reason.c_str(), turn.calls.size());
    for (const ipc::ToolCallDelta& call : turn.calls)
      std::printf(" %s(%s)", call.name.c_str(), call.arguments.c_str());
    std::printf("\n");
    num_calls += static_cast<int>(turn.calls.size());
    messages.push_back(assistant_message(turn));
    for (const ipc::ToolCallDelta& call : turn.calls)
      messages.push_back(tool_answer(call));
    if (turn.calls.empty()) messages.push_back(message("user", follow_ups[t]));
  }
  EXPECT_GE(num_calls, 2);
  // The whole history (four assistant turns, their calls and answers) renders and is served.
  ipc::Submit last;
  last.messages = messages;
  last.tools_json = kTools;
  last.sampling.max_tokens = 1;
  last.return_prompt_token_ids = true;
  const client::Outcome outcome = client->stream(client->submit(last), nullptr, 120s);
  ASSERT_TRUE(outcome.ok) << outcome.error.message;
  EXPECT_GT(outcome.prompt_token_ids.size(), 200u);
  const ipc::StatusReply status = client->status();
  EXPECT_FALSE(status.state.empty());
  EXPECT_GE(status.requests_finished_total, 4u);
  EXPECT_EQ(daemon->wait_exit(0ms), -1) << "mmd exited:\n" << daemon->log();
}

TEST(ChatShm, HostileToolHistoriesFailAloneNamingTheField) {
  auto daemon = start_daemon();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto client = connect(*daemon);
  const auto history = [](const std::string& tool_calls_json) {
    std::vector<ipc::ChatMessage> m = {message("user", "weather in Paris?"),
                                       message("assistant", "")};
    m[1].tool_calls_json = tool_calls_json;
    ipc::ChatMessage answer = message("tool", "sunny");
    answer.tool_call_id = "call_1";
    m.push_back(answer);
    return m;
  };
  const std::string good_calls =
      R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])";
  struct Hostile {
    std::vector<ipc::ChatMessage> messages;
    std::string field;  // what the error must name
    std::string what;
  };
  std::vector<Hostile> hostile = {
      {history("{}"), "'messages[1].tool_calls'", "must be an array"},
      {history(R"([{"function":{"name":"f","arguments":5}}])"),
       "'messages[1].tool_calls[0].function.arguments'", "must be a JSON object"},
      {history("[{"), "'messages[1].tool_calls'", "is not valid JSON"},
      {history(good_calls), "'messages[2].tool_calls'", "only allowed on assistant messages"}};
  hostile.back().messages[2].tool_calls_json = good_calls;  // a tool message with tool_calls

  // A long request runs on the same connection while the hostile ones are refused.
  ipc::Submit running;
  running.messages = {message("user", "Tell me a story.")};
  running.sampling.temperature = 0.0f;
  running.sampling.max_tokens = 64;
  running.sampling.ignore_eos = true;
  const uint64_t running_id = client->submit(running);
  std::vector<uint64_t> ids;
  for (const Hostile& h : hostile) {
    ipc::Submit submit;
    submit.messages = h.messages;
    submit.tools_json = kTools;
    submit.sampling.max_tokens = 8;
    ids.push_back(client->submit(submit));
  }
  for (size_t i = 0; i < hostile.size(); ++i) {
    SCOPED_TRACE(hostile[i].field + " " + hostile[i].what);
    const client::Outcome outcome = client->stream(ids[i], nullptr, 60s);
    ASSERT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.error.code, ipc::ErrorCode::kBadRequest);
    EXPECT_NE(outcome.error.message.find(hostile[i].field), std::string::npos)
        << outcome.error.message;
    EXPECT_NE(outcome.error.message.find(hostile[i].what), std::string::npos)
        << outcome.error.message;
  }
  int running_tokens = 0;
  const client::Outcome ran = client->stream(
      running_id,
      [&](const ipc::Delta& d) { running_tokens += static_cast<int>(d.token_ids.size()); }, 120s);
  ASSERT_TRUE(ran.ok) << ran.error.message;
  EXPECT_EQ(ran.finished.reason, "length");
  EXPECT_EQ(running_tokens, 64);
  // The good history is served after them, on the same connection and on a new one.
  ipc::Submit good;
  good.messages = history(good_calls);
  good.tools_json = kTools;
  good.sampling.max_tokens = 4;
  EXPECT_TRUE(client->stream(client->submit(good), nullptr, 60s).ok);
  auto other = connect(*daemon);
  EXPECT_TRUE(other->stream(other->submit(good), nullptr, 60s).ok);
  EXPECT_FALSE(other->status().state.empty());
  EXPECT_EQ(daemon->wait_exit(0ms), -1) << "mmd exited:\n" << daemon->log();
}

TEST(ChatShm, InterleavedThinkingRoundTrip) {
  auto daemon = start_daemon();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto client = connect(*daemon);
  const text::Tokenizer tokenizer = text::Tokenizer::from_file(kModel + "/tokenizer.json");
  const auto rendered = [&](const std::vector<ipc::ChatMessage>& messages) {
    ipc::Submit submit;
    submit.messages = messages;
    submit.tools_json = kTools;
    submit.sampling.max_tokens = 1;
    submit.return_prompt_token_ids = true;
    const client::Outcome outcome = client->stream(client->submit(submit), nullptr, 60s);
    EXPECT_TRUE(outcome.ok) << outcome.error.message;
    return tokenizer.decode(outcome.prompt_token_ids);
  };
  std::vector<ipc::ChatMessage> messages = {
      message("user", "What's the weather in Paris for the next 3 days?")};
  const Turn turn = chat(*client, messages, "auto");
  ASSERT_TRUE(turn.outcome.ok) << turn.outcome.error.message;
  ASSERT_FALSE(turn.reasoning.empty()) << "the model did not think: " << turn.content;
  messages.push_back(assistant_message(turn));
  for (const ipc::ToolCallDelta& call : turn.calls)
    messages.push_back(tool_answer(call));
  const std::string block = "<think>\n" + turn.reasoning + "\n</think>\n\n";
  // The reasoning follows the last user message: the next prompt holds it ...
  EXPECT_NE(rendered(messages).find(block), std::string::npos) << block;
  // ... and the next turn is served.
  const Turn next = chat(*client, messages, "auto", 20);
  EXPECT_TRUE(next.outcome.ok) << next.outcome.error.message;
  // Once a user message follows it, it is dropped (MiniMax's interleaved thinking).
  messages.push_back(message("user", "Thanks!"));
  EXPECT_EQ(rendered(messages).find(block), std::string::npos);
  EXPECT_FALSE(client->status().state.empty());
}

// ---- the same history through mmctl ----------------------------------------------------------

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// `mmctl chat ARGS` reading `input` as its standard input; stdout captured, stderr appended.
CommandResult mmctl_chat(const DaemonProcess& daemon, const std::string& args,
                         const std::string& input) {
  const std::string input_path = daemon.dir() + "/chat-input.txt";
  std::ofstream(input_path) << input;
  const std::string command = std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl chat --socket " +
                              daemon.socket_path() + " " + args + " <" + input_path + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// mmctl has no tool_choice and every line it reads is a user turn, so it cannot run the loop
// itself; what it can do is send a tool history (/load, OpenAI messages) and go on from it.
TEST(ChatShm, MmctlGoesOnFromALoadedToolHistory) {
  auto daemon = start_daemon();
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string history = daemon->dir() + "/history.json";
  std::ofstream(history) << R"([
    {"role": "system", "content": "You are a helpful agent."},
    {"role": "user", "content": "What's the weather in Paris and what is 12*7?"},
    {"role": "assistant", "content": "", "reasoning_content": "Two tools at once.",
     "tool_calls": [
      {"id": "call_1", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": 3}"}},
      {"id": "call_2", "type": "function",
       "function": {"name": "calculator", "arguments": {"expression": "12*7", "precision": 0}}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"forecast\": [\"sunny\"]}"},
    {"role": "tool", "tool_call_id": "call_2", "content": "84"}])";
  const std::string saved = daemon->dir() + "/saved.json";
  const CommandResult chat =
      mmctl_chat(*daemon, "--json --max-tokens 24 --temperature 0",
                 "/load " + history + "\nThanks! And in Rome?\n/save " + saved + "\n/exit\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.out;
  const JsonValue reply = JsonValue::parse(chat.out.substr(0, chat.out.find('\n')), "mmctl");
  ASSERT_NE(reply.find("finish_reason"), nullptr) << chat.out;
  EXPECT_NE(reply.find("finish_reason")->as_string(), "error") << chat.out;
  // The saved conversation is the loaded one (both calls, their answers) plus the new turn.
  const JsonValue conversation = JsonValue::parse(read_file(saved), saved);
  const JsonArray& messages = conversation.as_array();
  ASSERT_EQ(messages.size(), 7u) << read_file(saved);
  const JsonValue* calls = messages[2].find("tool_calls");
  ASSERT_NE(calls, nullptr);
  ASSERT_EQ(calls->as_array().size(), 2u);
  EXPECT_EQ(calls->as_array()[1].find("function")->find("name")->as_string(), "calculator");
  EXPECT_EQ(messages[4].find("tool_call_id")->as_string(), "call_2");
  EXPECT_EQ(messages[5].find("content")->as_string(), "Thanks! And in Rome?");
  EXPECT_EQ(messages[6].find("role")->as_string(), "assistant");

  // A history the daemon refuses (arguments 5) fails that turn alone, naming the field.
  const std::string bad = daemon->dir() + "/bad.json";
  std::ofstream(bad) << R"([{"role": "user", "content": "hi"},
    {"role": "assistant", "content": "", "tool_calls": [
      {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": 5}}]},
    {"role": "tool", "tool_call_id": "c", "content": "x"}])";
  const CommandResult refused =
      mmctl_chat(*daemon, "--max-tokens 4", "/load " + bad + "\nand now?\n/exit\n");
  EXPECT_EQ(refused.exit_code, 4) << refused.out;  // the daemon answered with an error
  EXPECT_NE(refused.out.find("messages[1].tool_calls[0].function.arguments"), std::string::npos)
      << refused.out;
  auto client = connect(*daemon);
  EXPECT_FALSE(client->status().state.empty());
  EXPECT_EQ(daemon->wait_exit(0ms), -1) << "mmd exited:\n" << daemon->log();
}

}  // namespace
}  // namespace mm
