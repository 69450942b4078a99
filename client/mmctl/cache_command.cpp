#include "client/mmctl/cache_command.h"

#include <cstdio>
#include <thread>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/human_format.h"
#include "client/mmctl/status_json.h"

namespace mm {

namespace {

bool tiers_empty(const ipc::StatusReply& status) {
  for (const ipc::KvTierStatus& tier : status.kv_tiers) {
    if (tier.num_blocks != 0) return false;
  }
  return true;
}

}  // namespace

void print_kv_tiers(const ipc::StatusReply& s, std::ostream& out) {
  if (s.kv_tiers.empty()) {
    out << "KV tiers     off (--kv-host-cache-bytes and --kv-disk-cache-bytes are 0)\n";
    return;
  }
  char line[256];
  for (const ipc::KvTierStatus& tier : s.kv_tiers) {
    if (tier.budget_bytes == 0) {
      std::snprintf(line, sizeof line, "KV %-9s off\n", tier.name.c_str());
    } else {
      std::snprintf(line, sizeof line,
                    "KV %-9s %llu blocks, %s of %s; %llu restored, %llu stored, %llu evicted, "
                    "%llu rejected\n",
                    tier.name.c_str(), static_cast<unsigned long long>(tier.num_blocks),
                    format_bytes(tier.num_bytes).c_str(), format_bytes(tier.budget_bytes).c_str(),
                    static_cast<unsigned long long>(tier.hits_total),
                    static_cast<unsigned long long>(tier.stores_total),
                    static_cast<unsigned long long>(tier.evictions_total),
                    static_cast<unsigned long long>(tier.rejected_total));
    }
    out << line;
  }
  out << "KV restored  " << s.kv_tier_restored_tokens_total << " prompt tokens from the tiers\n";
}

int run_cache_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  SessionOptions options;
  std::string action = "status";
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (take_session_flag(args, i, options)) continue;
      if ((args[i] == "clear" || args[i] == "status") && i == 0) {
        action = args[i];
      } else {
        throw std::invalid_argument("unknown argument '" + args[i] + "'");
      }
    }
  } catch (const std::invalid_argument& error) {
    err << "mmctl cache: " << error.what() << "\n";
    return kExitUsage;
  }
  auto client = connect_or_report(options, err);
  if (!client) return kExitNoDaemon;
  try {
    ipc::StatusReply status;
    if (action == "clear") {
      client->clear_cache(options.timeout);
      // Queued to the engine thread: follow the status until the tiers read empty.
      const auto deadline = std::chrono::steady_clock::now() + options.timeout;
      status = client->status(options.timeout);
      while (!tiers_empty(status) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        status = client->status(options.timeout);
      }
      if (!tiers_empty(status)) {
        err << "mmctl cache clear: the tiers still hold blocks after the timeout\n";
        return kExitDaemonFailed;
      }
    } else {
      status = client->status(options.timeout);
    }
    if (options.json) {
      out << status_json(status)["kv_tiers"].dump(2) << "\n";
    } else {
      if (action == "clear") out << "cleared\n";
      print_kv_tiers(status, out);
    }
    return kExitOk;
  } catch (const client::ClientError& error) {
    err << "mmctl cache: " << error.what() << "\n";
    return kExitNoDaemon;
  }
}

}  // namespace mm
