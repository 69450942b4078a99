// `mmctl cache [status]` and `mmctl cache clear`: the KV tiers under the daemon's prefix cache
// (host memory, disk): their blocks, bytes, restores; `clear` empties them and waits until the
// status shows them empty. --json prints the tiers as `mmctl status --json` does.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "ipc/protocol.h"

namespace mm {

int run_cache_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// One line per tier ("host  12 blocks, 3.1 MB of 1.1 GB, 40 restored, ..."), for status too.
void print_kv_tiers(const ipc::StatusReply& status, std::ostream& out);

}  // namespace mm
