#include "client/mmctl/chat_command.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/request_flags.h"

namespace mm {

namespace {

constexpr const char* kDim = "\033[2m";
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
  if (!d.name.empty()) call["function"]["name"] = call["function"]["name"].get<std::string>() + d.name;
  call["function"]["arguments"] = call["function"]["arguments"].get<std::string>() + d.arguments;
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
  if (!system.empty()) history.push_back(ipc::ChatMessage{"system", system, "", "", "", ""});
  int exit_code = kExitOk;
  try {
    wait_until_ready(*client, options, err);
    if (prompt_user) out << "chatting with " << client->hello().model << " (/reset, /exit)\n";
    std::string line;
    for (;;) {
      if (prompt_user) out << "> " << std::flush;
      if (!std::getline(in, line) || line == "/exit") break;
      if (line.empty()) continue;
      if (line == "/reset") {
        history.resize(system.empty() ? 0 : 1);
        if (prompt_user) out << "(history cleared)\n";
        continue;
      }
      history.push_back(ipc::ChatMessage{"user", line, "", "", "", ""});
      ipc::Submit submit = templ;
      submit.messages = history;
      const uint64_t id = client->submit(submit);
      Turn turn;
      bool dim = false;
      const auto outcome = client->stream(id, [&](const ipc::Delta& delta) {
        turn.text += delta.text;
        turn.reasoning += delta.reasoning;
        for (const auto& call : delta.tool_calls)
          add_tool_call_delta(turn, call);
        if (options.json) return;
        if (!delta.reasoning.empty()) {
          if (tty && !dim) out << kDim;
          dim = true;
          out << delta.reasoning;
        }
        if (!delta.text.empty()) {
          if (tty && dim) out << kReset;
          dim = false;
          out << delta.text;
        }
        out << std::flush;
      });
      if (tty && dim) out << kReset;
      if (!options.json) {
        for (const auto& call : turn.tool_calls) {
          out << (tty ? kCyan : "") << "\n[tool call " << call["function"]["name"].get<std::string>()
              << "(" << call["function"]["arguments"].get<std::string>() << ")]"
              << (tty ? kReset : "");
        }
        out << "\n";
      }
      if (!outcome.ok) {
        err << "mmctl chat: " << outcome.error.message << "\n";
        history.pop_back();  // the turn did not happen
        exit_code = kExitRequestFailed;
        if (outcome.error.code == ipc::ErrorCode::kNotSupported) break;
        continue;
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
      ipc::ChatMessage reply{"assistant", turn.text, turn.reasoning, "", "", ""};
      if (!turn.tool_calls.empty()) reply.tool_calls_json = turn.tool_calls.dump();
      history.push_back(std::move(reply));
    }
  } catch (const client::ClientError& error) {
    err << "mmctl chat: " << error.what() << "\n";
    return kExitNoDaemon;
  }
  return exit_code;
}

}  // namespace mm
