// mmctl: the command-line client of mmd.
#include <iostream>
#include <string>
#include <vector>

#include "client/mmctl/exit_codes.h"
#include "client/mmctl/inspect_command.h"
#include "client/mmctl/run_command.h"

namespace {

constexpr const char* kUsage =
    "usage: mmctl COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  inspect [--json] CHECKPOINT_DIR   show a checkpoint's architecture, precision map,\n"
    "                                    sizes and KV cost, and validate it\n"
    "  run CHECKPOINT_DIR --tokens IDS   greedy generation in-process on the CPU\n"
    "      [--max-tokens N] [--kv-cache-dtype bf16|fp8|f32] [--threads N]\n"
    "  help                              this text\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args.front() == "help" || args.front() == "--help" || args.front() == "-h") {
    (args.empty() ? std::cerr : std::cout) << kUsage;
    return args.empty() ? mm::kExitUsage : mm::kExitOk;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "inspect") return mm::run_inspect_command(args, std::cout, std::cerr);
  if (command == "run") return mm::run_run_command(args, std::cout, std::cerr);
  std::cerr << "mmctl: unknown command '" << command << "'\n" << kUsage;
  return mm::kExitUsage;
}
