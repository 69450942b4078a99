// What every mmctl command that talks to mmd shares: the --socket / --json / --timeout flags,
// connecting (with an error that names the socket), and a progress bar on stderr while the
// daemon loads or wakes.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "client/libmmclient/mmclient.h"

namespace mm {

// --progress: while the daemon loads or wakes. kAuto: a bar redrawn in place when stderr is a
// terminal (and not --json), nothing otherwise; kAlways: the bar on a terminal, else a line
// every 2 s and one when it ends; kNever: nothing.
enum class ProgressMode { kAuto, kAlways, kNever };

struct SessionOptions {
  std::string socket = client::default_socket_path();
  bool json = false;
  std::chrono::milliseconds timeout{30000};
  ProgressMode progress = ProgressMode::kAuto;
};

// If args[i] is a session flag, consumes it (and its value) and returns true. Throws
// std::invalid_argument naming a flag with a bad or missing value.
bool take_session_flag(const std::vector<std::string>& args, size_t& i, SessionOptions& options);

// For commands that take session flags only: parses `args` into `options`, or prints
// "mmctl COMMAND: ..." to `err` and returns false (exit kExitUsage).
bool parse_session_flags_only(const std::vector<std::string>& args, const std::string& command,
                              SessionOptions& options, std::ostream& err);

// Connects, or prints why not to `err` and returns null (exit kExitNoDaemon).
std::unique_ptr<client::Client> connect_or_report(const SessionOptions& options,
                                                  std::ostream& err);

// Waits while the daemon is loading or waking (at most --timeout), showing its progress on
// `err` as options.progress says. Returns the last status; its state says how the wait ended.
ipc::StatusReply wait_until_ready(client::Client& client, const SessionOptions& options,
                                  std::ostream& err);

// Reads a value for `flag` from args[i + 1]; throws std::invalid_argument when missing.
const std::string& flag_value(const std::vector<std::string>& args, size_t& i,
                              const std::string& flag);
int parse_int_flag(const std::string& flag, const std::string& text);
double parse_double_flag(const std::string& flag, const std::string& text);

}  // namespace mm
