#include "client/mmctl/generate_command.h"

#include <unistd.h>

#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/reply_printer.h"
#include "client/mmctl/request_flags.h"

namespace mm {

namespace {

nlohmann::ordered_json logprobs_json(const std::vector<ipc::TokenLogprobs>& logprobs) {
  auto all = nlohmann::ordered_json::array();
  for (const auto& token : logprobs) {
    auto top = nlohmann::ordered_json::array();
    for (const auto& [id, logprob] : token.top)
      top.push_back({{"token", id}, {"logprob", logprob}});
    all.push_back({{"token", token.token_id}, {"logprob", token.logprob}, {"top", top}});
  }
  return all;
}

// One line per generated token: its id and log-probability, then the `n` most likely ids at
// that position with theirs.
void print_logprobs(const std::vector<ipc::TokenLogprobs>& logprobs, int n, std::ostream& out) {
  out << "   token   logprob" << (n > 0 ? "   top " + std::to_string(n) + " (token logprob)" : "")
      << "\n";
  char field[64];
  for (const auto& token : logprobs) {
    std::snprintf(field, sizeof field, "%8d %9.4f", token.token_id, token.logprob);
    out << field;
    for (size_t k = 0; k < token.top.size(); ++k) {
      std::snprintf(field, sizeof field, "%s%d %.4f", k == 0 ? "   " : ", ", token.top[k].first,
                    token.top[k].second);
      out << field;
    }
    out << "\n";
  }
}

}  // namespace

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
  // mmctl(1): a prompt given as ids is answered with ids, a text prompt with text.
  const bool print_ids = !submit.prompt_token_ids.empty();
  std::vector<int32_t> tokens;
  std::vector<ipc::TokenLogprobs> logprobs;
  std::string text;
  std::string reasoning;
  try {
    wait_until_ready(*client, options, err);
    const uint64_t id = client->submit(submit);
    ReplyPrinter printer(out, tty);
    const auto outcome = client->stream(id, [&](const ipc::Delta& delta) {
      tokens.insert(tokens.end(), delta.token_ids.begin(), delta.token_ids.end());
      logprobs.insert(logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
      text += delta.text;
      reasoning += delta.reasoning;
      if (options.json) return;
      if (print_ids) {
        for (int32_t token : delta.token_ids)
          out << token << ' ';
        out << std::flush;
        return;
      }
      printer.reasoning(delta.reasoning);
      printer.answer(delta.text);
    });
    if (options.json) {
      nlohmann::ordered_json result;
      result["request"] = outcome.engine_request_id;
      result["tokens"] = tokens;
      result["text"] = text;
      if (!reasoning.empty()) result["reasoning"] = reasoning;
      if (submit.sampling.logprobs >= 0) result["logprobs"] = logprobs_json(logprobs);
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
      if (print_ids)
        out << "\n";
      else
        printer.finish();
      if (submit.sampling.logprobs >= 0) print_logprobs(logprobs, submit.sampling.logprobs, out);
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
