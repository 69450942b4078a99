// mmctl: the command-line client of mmd.
#include <iostream>
#include <string>
#include <vector>

#include "client/mmctl/bench_command.h"
#include "client/mmctl/chat_command.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/generate_command.h"
#include "client/mmctl/inspect_command.h"
#include "client/mmctl/power_command.h"
#include "client/mmctl/run_command.h"
#include "client/mmctl/status_command.h"

namespace {

constexpr const char* kUsage =
    "usage: mmctl COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  inspect [--json] CHECKPOINT_DIR   show a checkpoint's architecture, precision map,\n"
    "                                    sizes and KV cost, and validate it\n"
    "  status [--json]                   the daemon's model, state, KV use and requests\n"
    "  generate [PROMPT|-] [--tokens IDS] one completion, streamed (prompt from stdin\n"
    "           [--max-tokens N ...]      when '-' or absent)\n"
    "  chat [--system TEXT]              interactive chat: streaming, reasoning dimmed,\n"
    "                                    tool calls shown, history kept (/reset, /exit)\n"
    "  bench [--concurrency N]           N clients; --num-requests, --prompt-tokens,\n"
    "                                    --output-tokens: tokens/s, TTFT and ITL percentiles;\n"
    "                                    --http URL: the same load over the OpenAI API\n"
    "  sleep [--level 1|2]               free the KV cache and weights (2: also unmap)\n"
    "  wake                              load the model again (progress bar)\n"
    "  run CHECKPOINT_DIR --tokens IDS   greedy generation in-process on the CPU (no daemon)\n"
    "      [--max-tokens N] [--kv-cache-dtype bf16|fp8|f32] [--threads N]\n"
    "  help                              this text\n"
    "\n"
    "Commands that talk to mmd take --socket PATH (default $MMD_SOCKET or\n"
    "/run/mmd/mmd.sock), --json and --timeout SECONDS.\n"
    "Exit codes: 0 ok, 1 bad checkpoint, 2 usage, 3 no daemon, 4 request failed,\n"
    "5 the daemon's model failed to load.\n";

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
  if (command == "status") return mm::run_status_command(args, std::cout, std::cerr);
  if (command == "generate") return mm::run_generate_command(args, std::cin, std::cout, std::cerr);
  if (command == "chat") return mm::run_chat_command(args, std::cin, std::cout, std::cerr);
  if (command == "bench") return mm::run_bench_command(args, std::cout, std::cerr);
  if (command == "sleep") return mm::run_sleep_command(args, std::cout, std::cerr);
  if (command == "wake") return mm::run_wake_command(args, std::cout, std::cerr);
  std::cerr << "mmctl: unknown command '" << command << "'\n" << kUsage;
  return mm::kExitUsage;
}
