// `mmctl status [--json] [--socket PATH]`: the daemon's model, state, KV use and requests.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mm {

// Exit code: 0 ready/sleeping/draining, 3 no daemon, 5 the model failed to load, 2 usage.
int run_status_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mm
