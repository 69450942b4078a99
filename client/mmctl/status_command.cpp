#include "client/mmctl/status_command.h"

#include <algorithm>
#include <cstdio>

#include "client/mmctl/cache_command.h"
#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/human_format.h"
#include "client/mmctl/load_progress.h"
#include "client/mmctl/status_json.h"

namespace mm {

int run_status_command(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
  SessionOptions options;
  bool wait = false;
  std::vector<std::string> session_args;
  for (const std::string& arg : args) {
    if (arg == "--wait")
      wait = true;
    else
      session_args.push_back(arg);
  }
  if (!parse_session_flags_only(session_args, "status", options, err)) return kExitUsage;
  auto client = connect_or_report(options, err);
  if (!client) return kExitNoDaemon;
  ipc::StatusReply s;
  try {
    // --wait: until the load or wake is over (a sleeping daemon is settled: `mmctl wake`).
    s = wait ? wait_until_ready(*client, options, err) : client->status(options.timeout);
  } catch (const client::ClientError& error) {
    err << "mmctl status: " << error.what() << "\n";
    return kExitNoDaemon;
  }
  if (options.json) {
    out << status_json(s).dump(2) << "\n";
  } else {
    char line[256];
    out << "model        " << s.model << "\n";
    out << "state        " << s.state;
    if (s.state == "sleeping") out << " (level " << s.sleep_level << ")";
    if (!s.error.empty()) out << ": " << s.error;
    out << "\n";
    if ((s.state == "loading" || s.state == "waking") && s.load_bytes_total > 0) {
      out << "progress     "
          << format_load_line(s.load_progress, s.load_bytes_done, s.load_bytes_total, std::nullopt,
                              std::nullopt, 0.0)
          << "\n";
    }
    out << "requests     " << s.num_running << " running, " << s.num_waiting << " waiting, "
        << s.requests_finished_total << " finished\n";
    const double percent = s.num_kv_blocks_total > 0
                               ? 100.0 * s.num_kv_blocks_used / s.num_kv_blocks_total
                               : 0.0;
    std::snprintf(line, sizeof line,
                  "KV cache     %d / %d blocks used (%.1f%%), %d cached, %d tokens per block, %s\n",
                  s.num_kv_blocks_used, s.num_kv_blocks_total, percent, s.num_kv_blocks_cached,
                  s.kv_block_size, s.kv_cache_dtype.c_str());
    out << line;
    if (!s.kv_tiers.empty()) print_kv_tiers(s, out);
    out << "tokens       " << format_count(static_cast<int64_t>(s.prompt_tokens_total))
        << " prompt, " << format_count(static_cast<int64_t>(s.generation_tokens_total))
        << " generated, prefix cache hits "
        << format_count(static_cast<int64_t>(s.prefix_hit_tokens_total)) << " of "
        << format_count(static_cast<int64_t>(s.prefix_query_tokens_total)) << "\n";
    std::snprintf(line, sizeof line,
                  "latency      TTFT mean %.1f ms, inter-token mean %.2f ms (%llu requests)\n",
                  1e3 * histogram_mean(s.time_to_first_token),
                  1e3 * histogram_mean(s.inter_token_latency),
                  static_cast<unsigned long long>(s.time_to_first_token.count));
    out << line;
    std::snprintf(line, sizeof line, "clients      %d connected; up %.0f s, %llu steps\n",
                  s.num_connections, s.uptime_seconds,
                  static_cast<unsigned long long>(s.num_steps));
    out << line;
    // What runs and why: each resolved setting with its source.
    if (!s.settings.empty()) out << "settings\n";
    for (const ipc::Setting& setting : s.settings) {
      if (setting.value.empty()) continue;
      std::string name = "  " + setting.name;
      name.resize(std::max<size_t>(name.size() + 1, 26), ' ');
      out << name << setting.value << " (" << setting.source << ")\n";
    }
  }
  return s.state == "failed" ? kExitDaemonFailed : kExitOk;
}

}  // namespace mm
