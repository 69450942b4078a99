#include "client/mmctl/daemon_session.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <thread>

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
  const bool draw = !options.json && ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  bool drew = false;
  for (;;) {
    ipc::StatusReply status = client.status(options.timeout);
    if (status.state != "loading" && status.state != "waking") {
      if (drew) err << "\r\033[K" << std::flush;
      return status;
    }
    if (std::chrono::steady_clock::now() - start > options.timeout) {
      if (drew) err << "\n";
      throw client::ClientError("the daemon is still " + status.state + " after " +
                                std::to_string(options.timeout.count() / 1000) + " s");
    }
    if (draw) {
      constexpr int kWidth = 30;
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::string bar;
      if (status.load_progress > 0.0) {
        const int filled = static_cast<int>(status.load_progress * kWidth);
        bar = std::string(static_cast<size_t>(filled), '#') +
              std::string(static_cast<size_t>(kWidth - filled), '.');
      } else {  // no fraction known: a bouncing marker
        const int pos = static_cast<int>(elapsed * 10) % (2 * kWidth - 2);
        const int at = pos < kWidth ? pos : 2 * kWidth - 2 - pos;
        bar = std::string(static_cast<size_t>(kWidth), '.');
        bar[static_cast<size_t>(at)] = '#';
      }
      char line[160];
      std::snprintf(line, sizeof line, "\r%s %s [%s] %.1f s", status.state.c_str(),
                    status.model.c_str(), bar.c_str(), elapsed);
      err << line << std::flush;
      drew = true;
    }
    // A client-side refresh interval: mmctl polls the daemon's status while it loads.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace mm
