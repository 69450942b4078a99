// mmd: the MiniMax-M2 inference daemon. Reads its configuration (TOML file and vLLM-style
// flags), loads the model on the engine thread and serves clients over shared memory.
#include <iostream>
#include <string>
#include <vector>

#include "daemon/service/config.h"
#include "daemon/service/daemon.h"
#include "daemon/service/engine_setup.h"
#include "daemon/service/log.h"

int main(int argc, char** argv) {
  mm::DaemonConfig config;
  mm::EngineSetup setup;
  try {
    std::string exit_text;
    if (!mm::parse_command_line(std::vector<std::string>(argv + 1, argv + argc), config,
                                exit_text)) {
      std::cout << exit_text;
      return 0;
    }
    setup = mm::make_engine_setup(config);
  } catch (const mm::ConfigError& error) {
    mm::log_error(std::string("mmd: ") + error.what());
    return 2;
  }
  const std::string& level = config.log_level;
  mm::set_log_level(level == "error"     ? mm::LogPriority::kError
                    : level == "warning" ? mm::LogPriority::kWarning
                    : level == "notice"  ? mm::LogPriority::kNotice
                    : level == "debug"   ? mm::LogPriority::kDebug
                                         : mm::LogPriority::kInfo);
  mm::Daemon daemon(std::move(config), std::move(setup));
  // Other frontends join here, before run(): e.g. when config.bus != "none",
  // daemon.add_frontend(std::make_unique<mm::DbusService>(...)) (daemon/service/frontend.h).
  return daemon.run();
}
