// `mmctl run CKPT --tokens 1,2,3 [--max-tokens N] [--kv-cache-dtype bf16|fp8|f32] [--threads N]`:
// loads a checkpoint in-process on the CPU backend and greedily generates from token ids,
// printing the generated ids. A developer tool for tests and benchmarks (no daemon involved).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mm {

// Returns the process exit code: 0 ok, 1 checkpoint does not load, 2 usage error.
int run_run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mm
