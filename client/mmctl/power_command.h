// `mmctl sleep [--level 1|2]` and `mmctl wake`: put the daemon to sleep (level 1 frees the KV
// cache and weights, level 2 also unmaps the checkpoint) or load it again. Both wait until
// the state changed (wake shows a progress bar); --json prints the final status.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mm {

int run_sleep_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_wake_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mm
