#include "client/mmctl/daemon_session.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "client/mmctl/load_progress.h"

namespace mm {

const std::string& flag_value(const std::vector<std::string>& args, size_t& i,
                              const std::string& flag) {
  if (i + 1 >= args.size()) throw std::invalid_argument(flag + " needs a value");
  return args[++i];
}

int parse_int_flag(const std::string& flag, const std::string& text) {
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw std::invalid_argument(flag + ": '" + text + "' is not an integer");
  return value;
}

double parse_double_flag(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw std::invalid_argument(flag + ": '" + text + "' is not a number");
  return value;
}

bool take_session_flag(const std::vector<std::string>& args, size_t& i, SessionOptions& options) {
  const std::string& arg = args[i];
  if (arg == "--json") {
    options.json = true;
  } else if (arg == "--socket") {
    options.socket = flag_value(args, i, arg);
  } else if (arg == "--progress") {
    const std::string& when = flag_value(args, i, arg);
    if (when == "auto")
      options.progress = ProgressMode::kAuto;
    else if (when == "always")
      options.progress = ProgressMode::kAlways;
    else if (when == "never")
      options.progress = ProgressMode::kNever;
    else
      throw std::invalid_argument("--progress must be auto, always or never, not '" + when + "'");
  } else if (arg == "--timeout") {
    options.timeout = std::chrono::milliseconds(
        static_cast<int64_t>(parse_double_flag(arg, flag_value(args, i, arg)) * 1000.0));
  } else {
    return false;
  }
  return true;
}

bool parse_session_flags_only(const std::vector<std::string>& args, const std::string& command,
                              SessionOptions& options, std::ostream& err) {
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (!take_session_flag(args, i, options))
        throw std::invalid_argument("unknown argument '" + args[i] + "'");
    }
  } catch (const std::invalid_argument& error) {
    err << "mmctl " << command << ": " << error.what() << "\n";
    return false;
  }
  return true;
}

std::unique_ptr<client::Client> connect_or_report(const SessionOptions& options,
                                                  std::ostream& err) {
  try {
    client::ConnectOptions connect;
    connect.socket_path = options.socket;
    connect.timeout = std::min(options.timeout, std::chrono::milliseconds(10000));
    connect.client_name = "mmctl";
    return client::Client::connect(connect);
  } catch (const client::ClientError& error) {
    err << "mmctl: " << error.what() << " (is mmd running? socket " << options.socket << ")\n";
    return nullptr;
  }
}

ipc::StatusReply wait_until_ready(client::Client& client, const SessionOptions& options,
                                  std::ostream& err) {
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  const bool bar = options.progress == ProgressMode::kAlways
                       ? terminal
                       : options.progress == ProgressMode::kAuto && terminal && !options.json;
  const bool lines = options.progress == ProgressMode::kAlways && !terminal;
  constexpr double kLineInterval = 2.0;  // seconds between lines on a non-terminal
  const auto start = std::chrono::steady_clock::now();
  LoadProgressMeter meter;
  bool drew = false;
  std::string waited_for;  // "loading" or "waking", once seen
  double next_line = 0.0;
  for (;;) {
    ipc::StatusReply status = client.status(options.timeout);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (status.state != "loading" && status.state != "waking") {
      if (drew) err << "\r\033[K" << std::flush;
      if (lines && !waited_for.empty()) {
        // The daemon keeps the last load's byte counts once it is ready.
        char took[64];
        std::snprintf(took, sizeof took, "; %s after %.1f s", status.state.c_str(), elapsed);
        err << waited_for << " "
            << format_load_line(status.state == "ready" ? 1.0 : status.load_progress,
                                status.load_bytes_done, status.load_bytes_total, std::nullopt,
                                std::nullopt, elapsed)
            << took << "\n"
            << std::flush;
      }
      return status;
    }
    waited_for = status.state;
    if (std::chrono::steady_clock::now() - start > options.timeout) {
      if (drew) err << "\n";
      throw client::ClientError("the daemon is still " + status.state + " after " +
                                std::to_string(options.timeout.count() / 1000) + " s");
    }
    meter.add(elapsed, status.load_bytes_done, status.load_bytes_total);
    if (bar || (lines && elapsed >= next_line)) {
      const std::string line =
          status.state + " " +
          format_load_line(status.load_progress, status.load_bytes_done, status.load_bytes_total,
                           meter.rate(), meter.eta(), elapsed);
      if (bar) {
        err << "\r" << line << "\033[K" << std::flush;
        drew = true;
      } else {
        err << line << "\n" << std::flush;
        next_line = elapsed + kLineInterval;
      }
    }
    // A client-side refresh interval: mmctl polls the daemon's status while it loads.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace mm
