#include "client/mmctl/power_command.h"

#include <thread>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/status_json.h"

namespace mm {

namespace {

int finish(const ipc::StatusReply& status, const SessionOptions& options, std::ostream& out) {
  if (options.json) {
    out << status_json(status).dump(2) << "\n";
  } else {
    out << status.model << ": " << status.state;
    if (status.state == "sleeping") out << " (level " << status.sleep_level << ")";
    out << "\n";
  }
  return status.state == "failed" ? kExitDaemonFailed : kExitOk;
}

}  // namespace

int run_sleep_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  SessionOptions options;
  int level = 1;
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (take_session_flag(args, i, options)) continue;
      if (args[i] == "--level") {
        level = parse_int_flag("--level", flag_value(args, i, "--level"));
        if (level != 1 && level != 2) throw std::invalid_argument("--level must be 1 or 2");
      } else {
        throw std::invalid_argument("unknown argument '" + args[i] + "'");
      }
    }
  } catch (const std::invalid_argument& error) {
    err << "mmctl sleep: " << error.what() << "\n";
    return kExitUsage;
  }
  auto client = connect_or_report(options, err);
  if (!client) return kExitNoDaemon;
  try {
    client->sleep(level, options.timeout);
    // The engine sleeps once its in-flight requests are done; follow it there.
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    for (;;) {
      const ipc::StatusReply status = client->status(options.timeout);
      if (status.state == "sleeping" || status.state == "failed" ||
          std::chrono::steady_clock::now() > deadline) {
        return finish(status, options, out);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (const client::ClientError& error) {
    err << "mmctl sleep: " << error.what() << "\n";
    return kExitNoDaemon;
  }
}

int run_wake_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  SessionOptions options;
  if (!parse_session_flags_only(args, "wake", options, err)) return kExitUsage;
  auto client = connect_or_report(options, err);
  if (!client) return kExitNoDaemon;
  try {
    client->wake(options.timeout);
    // wake() is queued; the state leaves "sleeping" when the engine takes it.
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    ipc::StatusReply status = client->status(options.timeout);
    while (status.state == "sleeping" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      status = client->status(options.timeout);
    }
    return finish(wait_until_ready(*client, options, err), options, out);
  } catch (const client::ClientError& error) {
    err << "mmctl wake: " << error.what() << "\n";
    return kExitNoDaemon;
  }
}

}  // namespace mm
