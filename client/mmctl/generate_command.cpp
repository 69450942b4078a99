#include "client/mmctl/generate_command.h"

#include <unistd.h>

#include <iterator>
#include <nlohmann/json.hpp>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/request_flags.h"

namespace mm {

int run_generate_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                         std::ostream& err) {
  SessionOptions options;
  ipc::Submit submit;
  std::optional<std::string> prompt;
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (take_session_flag(args, i, options) || take_sampling_flag(args, i, submit.sampling)) {
        continue;
      }
      if (args[i] == "--tokens") {
        submit.prompt_token_ids = parse_token_list(flag_value(args, i, "--tokens"));
      } else if (args[i].rfind("--", 0) == 0) {
        throw std::invalid_argument("unknown flag '" + args[i] + "'");
      } else if (prompt) {
        throw std::invalid_argument("one prompt only (quote it)");
      } else {
        prompt = args[i];
      }
    }
  } catch (const std::invalid_argument& error) {
    err << "mmctl generate: " << error.what() << "\n";
    return kExitUsage;
  }
  if (submit.prompt_token_ids.empty()) {
    if (!prompt || *prompt == "-")
      prompt = std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (prompt->empty()) {
      err << "mmctl generate: empty prompt\n";
      return kExitUsage;
    }
    submit.prompt = *prompt;
  }

  auto client = connect_or_report(options, err);
  if (!client) return kExitNoDaemon;
  const bool tty = !options.json && ::isatty(STDOUT_FILENO) != 0;
  std::vector<int32_t> tokens;
  std::string text;
  std::string reasoning;
  try {
    wait_until_ready(*client, options, err);
    const uint64_t id = client->submit(submit);
    bool in_reasoning = false;
    const auto outcome = client->stream(id, [&](const ipc::Delta& delta) {
      tokens.insert(tokens.end(), delta.token_ids.begin(), delta.token_ids.end());
      text += delta.text;
      reasoning += delta.reasoning;
      if (options.json) return;
      if (!delta.reasoning.empty()) {
        if (tty && !in_reasoning) out << "\033[2m";
        in_reasoning = true;
        out << delta.reasoning;
      }
      if (!delta.text.empty()) {
        if (tty && in_reasoning) out << "\033[0m";
        in_reasoning = false;
        out << delta.text;
      } else if (delta.reasoning.empty() && submit.prompt.empty() && text.empty() &&
                 reasoning.empty()) {
        // A daemon without a tokenizer sends ids only. With one, a delta may still carry only
        // ids that show nothing (the end-of-message marker, bytes of an unfinished character):
        // those print nothing, however the deltas happened to be cut.
        for (int32_t token : delta.token_ids)
          out << token << ' ';
      }
      out << std::flush;
    });
    if (tty && in_reasoning) out << "\033[0m";
    if (options.json) {
      nlohmann::ordered_json result;
      result["request"] = outcome.engine_request_id;
      result["tokens"] = tokens;
      result["text"] = text;
      if (!reasoning.empty()) result["reasoning"] = reasoning;
      if (outcome.ok) {
        result["finish_reason"] = outcome.finished.reason;
        if (!outcome.finished.message.empty()) result["message"] = outcome.finished.message;
        result["usage"] = {{"prompt_tokens", outcome.finished.usage.prompt_tokens},
                           {"completion_tokens", outcome.finished.usage.completion_tokens},
                           {"cached_prompt_tokens", outcome.finished.usage.cached_prompt_tokens}};
      } else {
        result["error"] = {{"code", ipc::error_code_name(outcome.error.code)},
                           {"message", outcome.error.message}};
      }
      out << result.dump() << "\n";
    } else {
      out << "\n";
      if (!outcome.ok)
        err << "mmctl generate: " << outcome.error.message << "\n";
      else if (outcome.finished.reason == "cancelled" || outcome.finished.reason == "error")
        err << "mmctl generate: " << outcome.finished.reason << ": " << outcome.finished.message
            << "\n";
    }
    if (!outcome.ok || outcome.finished.reason == "error" ||
        outcome.finished.reason == "cancelled") {
      return kExitRequestFailed;
    }
    return kExitOk;
  } catch (const client::ClientError& error) {
    err << "mmctl generate: " << error.what() << "\n";
    return kExitNoDaemon;
  }
}

}  // namespace mm
