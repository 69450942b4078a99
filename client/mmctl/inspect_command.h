// `mmctl inspect PATH [--json]`: reads a checkpoint's headers and prints its precision map.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mm {

// Returns the process exit code: 0 valid checkpoint, 1 invalid checkpoint, 2 usage error.
int run_inspect_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mm
