// mmctl: the command-line client of mmd.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "client/mmctl/bench_command.h"
#include "client/mmctl/chat_command.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/generate_command.h"
#include "client/mmctl/inspect_command.h"
#include "client/mmctl/cache_command.h"
#include "client/mmctl/power_command.h"
#include "client/mmctl/run_command.h"
#include "client/mmctl/status_command.h"
#include "client/mmctl/usage.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << mm::overall_usage();
    return mm::kExitUsage;
  }
  if (args.front() == "help" || args.front() == "--help" || args.front() == "-h") {
    // `mmctl help COMMAND` is `mmctl COMMAND --help`.
    const bool about_a_command = args.size() > 1 && args[1] != "--help" && args[1] != "-h";
    const std::string text = about_a_command ? mm::command_usage(args[1]) : mm::overall_usage();
    if (text.empty()) {
      std::cerr << "mmctl: unknown command '" << args[1] << "'\n" << mm::overall_usage();
      return mm::kExitUsage;
    }
    std::cout << text;
    return mm::kExitOk;
  }
  if (args.front() == "--version" || args.front() == "version") {
    std::cout << mm::version_text();
    return mm::kExitOk;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  const std::string usage = mm::command_usage(command);
  if (usage.empty()) {
    std::cerr << "mmctl: unknown command '" << command << "'\n" << mm::overall_usage();
    return mm::kExitUsage;
  }
  if (std::any_of(args.begin(), args.end(),
                  [](const std::string& a) { return a == "--help" || a == "-h"; })) {
    std::cout << usage;
    return mm::kExitOk;
  }
  int code = mm::kExitUsage;
  if (command == "inspect") code = mm::run_inspect_command(args, std::cout, std::cerr);
  if (command == "run") code = mm::run_run_command(args, std::cout, std::cerr);
  if (command == "status") code = mm::run_status_command(args, std::cout, std::cerr);
  if (command == "generate") code = mm::run_generate_command(args, std::cin, std::cout, std::cerr);
  if (command == "chat") code = mm::run_chat_command(args, std::cin, std::cout, std::cerr);
  if (command == "bench") code = mm::run_bench_command(args, std::cout, std::cerr);
  if (command == "sleep") code = mm::run_sleep_command(args, std::cout, std::cerr);
  if (command == "wake") code = mm::run_wake_command(args, std::cout, std::cerr);
  if (command == "cache") code = mm::run_cache_command(args, std::cout, std::cerr);
  if (code == mm::kExitUsage) std::cerr << "(mmctl " << command << " --help lists its flags)\n";
  return code;
}
