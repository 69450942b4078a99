#include "client/mmctl/chat_command.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/reply_printer.h"
#include "client/mmctl/request_flags.h"

namespace mm {

namespace {

using namespace std::chrono_literals;

constexpr const char* kCyan = "\033[36m";
constexpr const char* kReset = "\033[0m";

struct Turn {
  std::string text;
  std::string reasoning;
  nlohmann::json tool_calls = nlohmann::json::array();  // OpenAI shape, assembled from deltas
};

void add_tool_call_delta(Turn& turn, const ipc::ToolCallDelta& d) {
  while (turn.tool_calls.size() <= static_cast<size_t>(d.index)) {
    turn.tool_calls.push_back(
        {{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
  }
  auto& call = turn.tool_calls[static_cast<size_t>(d.index)];
  if (!d.id.empty()) call["id"] = d.id;
  if (!d.name.empty())
    call["function"]["name"] = call["function"]["name"].get<std::string>() + d.name;
  call["function"]["arguments"] = call["function"]["arguments"].get<std::string>() + d.arguments;
}

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) {
  g_interrupted = 1;
}

// While one lives, Ctrl-C (SIGINT) stops the reply being streamed instead of ending mmctl:
// the handler only raises a flag the streaming loop polls.
class InterruptScope {
 public:
  InterruptScope() {
    g_interrupted = 0;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptScope() { ::sigaction(SIGINT, &previous_, nullptr); }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  struct sigaction previous_ {};
};

// Streams `id` to its end like Client::stream, but a Ctrl-C cancels the request (the daemon
// then finishes it as "cancelled"); `stopped` says whether that happened.
client::Outcome stream_interruptibly(client::Client& client, uint64_t id,
                                     const std::function<void(const ipc::Delta&)>& on_delta,
                                     bool& stopped) {
  InterruptScope scope;
  client::Outcome outcome;
  stopped = false;
  for (;;) {
    if (g_interrupted != 0 && !stopped) {
      client.cancel(id);
      stopped = true;
    }
    auto event = client.next(id, 100ms);
    if (!event) continue;
    switch (event->kind) {
      case client::Event::Kind::kAccepted:
        outcome.engine_request_id = event->accepted.engine_request_id;
        break;
      case client::Event::Kind::kDelta:
        on_delta(event->delta);
        break;
      case client::Event::Kind::kFinished:
        outcome.ok = true;
        outcome.finished = std::move(event->finished);
        return outcome;
      case client::Event::Kind::kError:
        outcome.error = std::move(event->error);
        return outcome;
    }
  }
}

// The conversation as OpenAI chat messages, the form /save writes and /load reads.
nlohmann::ordered_json to_json(const std::vector<ipc::ChatMessage>& history) {
  auto messages = nlohmann::ordered_json::array();
  for (const auto& m : history) {
    nlohmann::ordered_json message{{"role", m.role}, {"content", m.content}};
    if (!m.reasoning_content.empty()) message["reasoning_content"] = m.reasoning_content;
    if (!m.tool_calls_json.empty())
      message["tool_calls"] = nlohmann::ordered_json::parse(m.tool_calls_json);
    if (!m.tool_call_id.empty()) message["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) message["name"] = m.name;
    messages.push_back(std::move(message));
  }
  return messages;
}

// Throws std::runtime_error naming the message and field that is wrong.
std::vector<ipc::ChatMessage> from_json(const nlohmann::json& messages) {
  if (!messages.is_array()) throw std::runtime_error("expected a JSON array of messages");
  std::vector<ipc::ChatMessage> history;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::string where = "message " + std::to_string(i) + ": ";
    auto text = [&](const char* key) -> std::string {
      if (!m.contains(key) || m[key].is_null()) return "";
      if (!m[key].is_string()) throw std::runtime_error(where + "'" + key + "' is not a string");
      return m[key].get<std::string>();
    };
    if (!m.is_object()) throw std::runtime_error(where + "not an object");
    ipc::ChatMessage message;
    message.role = text("role");
    if (message.role != "system" && message.role != "user" && message.role != "assistant" &&
        message.role != "tool") {
      throw std::runtime_error(where + "role '" + message.role +
                               "' is not system, user, assistant or tool");
    }
    message.content = text("content");
    message.reasoning_content = text("reasoning_content");
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      if (!m["tool_calls"].is_array())
        throw std::runtime_error(where + "'tool_calls' is not an array");
      message.tool_calls_json = m["tool_calls"].dump();
    }
    message.tool_call_id = text("tool_call_id");
    message.name = text("name");
    history.push_back(std::move(message));
  }
  return history;
}

enum class TurnEnd { kDone, kStopped, kFailed, kFatal };

// --tools FILE: a JSON array of OpenAI tool objects (or an object with such a "tools" array,
// the request body form). Throws std::invalid_argument naming what is wrong.
std::vector<std::string> load_tools(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::invalid_argument("--tools: cannot read '" + path + "'");
  const auto parsed = nlohmann::json::parse(file, nullptr, false);
  if (parsed.is_discarded()) throw std::invalid_argument("--tools: '" + path + "' is not JSON");
  const auto& tools = parsed.is_object() && parsed.contains("tools") ? parsed["tools"] : parsed;
  if (!tools.is_array() || tools.empty())
    throw std::invalid_argument("--tools: '" + path + "' holds no array of tools");
  std::vector<std::string> out;
  for (const auto& tool : tools) {
    if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object() ||
        !tool["function"].contains("name")) {
      throw std::invalid_argument("--tools: '" + path +
                                  "': each tool is {\"type\": \"function\", \"function\": "
                                  "{\"name\": ...}}");
    }
    out.push_back(tool.dump());
  }
  return out;
}

// "/save FILE" → FILE; "" when the command has no argument.
std::string argument_of(const std::string& line, size_t command_length) {
  const size_t start = line.find_first_not_of(' ', command_length);
  return start == std::string::npos ? "" : line.substr(start);
}

}  // namespace

int run_chat_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                     std::ostream& err) {
  SessionOptions options;
  ipc::Submit templ;
  std::string system;
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (take_session_flag(args, i, options) || take_sampling_flag(args, i, templ.sampling))
        continue;
      if (args[i] == "--system") {
        system = flag_value(args, i, "--system");
      } else if (args[i] == "--tools") {
        templ.tools_json = load_tools(flag_value(args, i, "--tools"));
      } else {
        throw std::invalid_argument("unknown argument '" + args[i] + "'");
      }
    }
  } catch (const std::invalid_argument& error) {
    err << "mmctl chat: " << error.what() << "\n";
    return kExitUsage;
  }
  auto client = connect_or_report(options, err);
  if (!client) return kExitNoDaemon;
  const bool tty = !options.json && ::isatty(STDOUT_FILENO) != 0;
  const bool prompt_user = !options.json && ::isatty(STDIN_FILENO) != 0;
  std::vector<ipc::ChatMessage> history;
  auto reset = [&] {
    history.clear();
    if (!system.empty()) history.push_back(ipc::ChatMessage{"system", system, "", "", "", ""});
  };
  reset();
  int exit_code = kExitOk;
  try {
    wait_until_ready(*client, options, err);
    if (prompt_user) {
      out << "chatting with " << client->hello().model
          << " (/reset, /save FILE, /load FILE, /exit; Ctrl-C stops a reply)\n";
    }
    // Streams the model's reply to the history as it stands and records it there.
    auto reply = [&](Turn& turn) {
      ipc::Submit submit = templ;
      submit.messages = history;
      const uint64_t id = client->submit(submit);
      ReplyPrinter printer(out, tty);
      bool stopped = false;
      const auto outcome = stream_interruptibly(
          *client, id,
          [&](const ipc::Delta& delta) {
            turn.text += delta.text;
            turn.reasoning += delta.reasoning;
            for (const auto& call : delta.tool_calls)
              add_tool_call_delta(turn, call);
            if (options.json) return;
            printer.reasoning(delta.reasoning);
            printer.answer(delta.text);
          },
          stopped);
      if (!options.json) {
        printer.finish();
        if (!stopped) {
          for (const auto& call : turn.tool_calls) {
            out << (tty ? kCyan : "") << "[tool call "
                << call["function"]["name"].get<std::string>() << "("
                << call["function"]["arguments"].get<std::string>() << ")]" << (tty ? kReset : "")
                << "\n";
          }
        }
      }
      if (stopped) {
        // What was shown stays in the history, so the next turn follows on from it; a reply
        // stopped before it said anything takes its question with it. Half a tool call is
        // dropped: its arguments are cut.
        if (!turn.text.empty() || !turn.reasoning.empty()) {
          history.push_back(ipc::ChatMessage{"assistant", turn.text, turn.reasoning, "", "", ""});
        } else if (history.back().role == "user") {
          history.pop_back();
        }
        if (options.json) {
          out << nlohmann::ordered_json{{"content", turn.text}, {"finish_reason", "cancelled"}}
                     .dump()
              << "\n";
        } else {
          out << "(reply stopped)\n";
        }
        return TurnEnd::kStopped;
      }
      if (!outcome.ok) {
        err << "mmctl chat: " << outcome.error.message << "\n";
        if (history.back().role == "user") history.pop_back();  // the turn did not happen
        exit_code = kExitRequestFailed;
        return outcome.error.code == ipc::ErrorCode::kNotSupported ? TurnEnd::kFatal
                                                                   : TurnEnd::kFailed;
      }
      if (options.json) {
        nlohmann::ordered_json result{{"content", turn.text},
                                      {"finish_reason", outcome.finished.reason}};
        if (!turn.reasoning.empty()) result["reasoning_content"] = turn.reasoning;
        if (!turn.tool_calls.empty()) result["tool_calls"] = turn.tool_calls;
        result["usage"] = {{"prompt_tokens", outcome.finished.usage.prompt_tokens},
                           {"completion_tokens", outcome.finished.usage.completion_tokens}};
        out << result.dump() << "\n";
      }
      ipc::ChatMessage message{"assistant", turn.text, turn.reasoning, "", "", ""};
      if (!turn.tool_calls.empty()) message.tool_calls_json = turn.tool_calls.dump();
      history.push_back(std::move(message));
      return TurnEnd::kDone;
    };
    std::string line;
    for (;;) {
      if (prompt_user) out << "> " << std::flush;
      if (!std::getline(in, line) || line == "/exit") break;
      if (line.empty()) continue;
      if (line == "/reset") {
        reset();
        if (prompt_user) out << "(history cleared)\n";
        continue;
      }
      if (line == "/save" || line.starts_with("/save ")) {
        const std::string path = argument_of(line, 5);
        std::ofstream file(path);
        if (path.empty() || !(file << to_json(history).dump(2) << "\n")) {
          err << "mmctl chat: cannot write '" << path << "' (/save FILE)\n";
        } else if (prompt_user) {
          out << "(" << history.size() << " messages saved to " << path << ")\n";
        }
        continue;
      }
      if (line == "/load" || line.starts_with("/load ")) {
        const std::string path = argument_of(line, 5);
        std::ifstream file(path);
        try {
          if (path.empty() || !file) throw std::runtime_error("cannot read it");
          history = from_json(nlohmann::json::parse(file));
          system =
              !history.empty() && history.front().role == "system" ? history.front().content : "";
          if (prompt_user)
            out << "(" << history.size() << " messages loaded from " << path << ")\n";
        } catch (const std::exception& error) {  // the history stays as it was
          err << "mmctl chat: /load '" << path << "': " << error.what() << "\n";
        }
        continue;
      }
      history.push_back(ipc::ChatMessage{"user", line, "", "", "", ""});
      // One reply, then, while it calls tools the user gave (--tools), their results as the
      // user types them, and the model's next reply.
      bool input_ended = false;
      for (;;) {
        Turn turn;
        const TurnEnd end = reply(turn);
        if (end == TurnEnd::kFatal) return exit_code;
        if (end != TurnEnd::kDone || turn.tool_calls.empty() || templ.tools_json.empty()) break;
        for (const auto& call : turn.tool_calls) {
          const std::string name = call["function"]["name"];
          if (prompt_user) out << "result of " << name << "> " << std::flush;
          std::string result;
          if (!std::getline(in, result)) {
            input_ended = true;
            break;
          }
          history.push_back(ipc::ChatMessage{"tool", result, "", "", call["id"], name});
        }
        if (input_ended) break;
      }
      if (input_ended) break;
    }
  } catch (const client::ClientError& error) {
    err << "mmctl chat: " << error.what() << "\n";
    return kExitNoDaemon;
  }
  return exit_code;
}

}  // namespace mm
