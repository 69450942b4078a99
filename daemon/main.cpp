// mmd: the MiniMax-M2 inference daemon. Reads its configuration (TOML file and vLLM-style
// flags), loads the model on the engine thread and serves clients over shared memory.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "daemon/frontends/http/openai_frontend.h"
#include "daemon/frontends/http/tokenizer_info.h"
#include "daemon/service/config.h"
#include "daemon/service/daemon.h"
#include "daemon/service/engine_setup.h"
#include "daemon/service/log.h"
#include "daemon/service/model_text.h"
#include "daemon/service/model_text_files.h"
#include "kernels/backend_factory.h"
#ifdef MMD_HAVE_DBUS
#include "daemon/service/dbus_frontend.h"
#endif
#ifdef MMD_HAVE_MPI
#include "daemon/engine/rank_link.h"
#include "kernels/comm/mpi_communicator.h"
#ifdef MMD_HAVE_NCCL
#include "kernels/comm/nccl_communicator.h"
#endif
#endif

#ifdef MMD_HAVE_NCCL
namespace {

// This rank's index among the ranks on its host (OpenMPI's OMPI_COMM_WORLD_LOCAL_RANK), which
// picks its GPU; the world rank when the launcher does not say.
int local_rank(const mm::Communicator& comm) {
  const char* text = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return text != nullptr && *text != '\0' ? std::atoi(text) : comm.rank();
}

}  // namespace
#endif

namespace {

// "a, b,c" -> {"a", "b", "c"}: the comma-separated lists of the config.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start < text.size();) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace

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
  // A device this build or this machine lacks is a start-up error, not a failed load.
  if (config.device != "cpu") {
    const std::string platform(mm::gpu_platform_of(config.device));
    if (!mm::gpu_backend_built(platform)) {
      mm::log_error("mmd: --device " + config.device + ": this mmd was built without the " +
                    (platform == "hip" ? "HIP backend (the hip preset)"
                                       : "CUDA backend (the cuda preset)"));
      return 2;
    }
    if (mm::gpu_device_count(platform) == 0) {
      mm::log_error("mmd: --device " + config.device + ": no " +
                    (platform == "hip" ? "HIP" : "CUDA") + " device is visible");
      return 2;
    }
  }
  const std::string& level = config.log_level;
  mm::set_log_level(level == "error"     ? mm::LogPriority::kError
                    : level == "warning" ? mm::LogPriority::kWarning
                    : level == "notice"  ? mm::LogPriority::kNotice
                    : level == "debug"   ? mm::LogPriority::kDebug
                                         : mm::LogPriority::kInfo);
  // Tensor parallelism: `mpirun -np N mmd -tp N ...`. Rank 0 continues as the daemon and
  // leads; the other ranks follow it until it stops.
  std::unique_ptr<mm::Communicator> comm;
  std::unique_ptr<mm::Communicator> device_collectives;  // GPU ranks (NCCL)
#ifdef MMD_HAVE_MPI
  if (config.tensor_parallel_size > 1 || mm::MpiCommunicator::launched_by_mpi()) {
    if (!mm::MpiCommunicator::launched_by_mpi()) {
      mm::log_error("mmd: --tensor-parallel-size " + std::to_string(config.tensor_parallel_size) +
                    ": start mmd under mpirun with one rank per shard: mpirun -np " +
                    std::to_string(config.tensor_parallel_size) + " mmd ...");
      return 2;
    }
    try {
      comm = mm::MpiCommunicator::create();
    } catch (const std::exception& error) {
      mm::log_error(std::string("mmd: ") + error.what());
      return 1;
    }
    if (comm->size() != config.tensor_parallel_size) {
      mm::log_error("mmd: mpirun started " + std::to_string(comm->size()) +
                    " ranks but --tensor-parallel-size is " +
                    std::to_string(config.tensor_parallel_size));
      return 2;
    }
    // GPU ranks: each takes the GPU of its local rank on its host, and the runner's collectives
    // run over NCCL on device memory (the NCCL id travels over MPI); the step broadcasts stay
    // on MPI.
    std::string device = config.device;
    if (device != "cpu" && comm->size() > 1) {
#ifdef MMD_HAVE_NCCL
      const int local = local_rank(*comm);
      device = "cuda:" + std::to_string(local);
      try {
        device_collectives = mm::NcclCommunicator::create(*comm, local);
      } catch (const std::exception& error) {
        mm::log_error("mmd rank " + std::to_string(comm->rank()) + ": " + error.what());
        return 1;
      }
#else
      mm::log_error("mmd: --device " + device +
                    " with tensor parallelism needs NCCL (a cuda-preset build with OpenMPI)");
      return 2;
#endif
    }
    if (comm->rank() != 0) {
      return mm::follow_rank_zero(*comm, config.model, config.num_threads, device,
                                  device_collectives.get());
    }
    if (comm->size() > 1) {
      setup.engine.comm = comm.get();
      setup.engine.collectives = device_collectives.get();
      setup.engine.runner.device = device;
      mm::log_info("tensor parallel: rank 0 of " + std::to_string(comm->size()) +
                   (device_collectives ? " (NCCL on " + device + ", MPI control)" : " (MPI)"));
    }
  }
#else
  if (config.tensor_parallel_size > 1) {
    mm::log_error("mmd: --tensor-parallel-size needs MPI, and this mmd was built without OpenMPI");
    return 2;
  }
#endif
  // Text prompts and chats need the model's tokenizer; without one mmd serves token ids.
  std::shared_ptr<mm::ModelText> text;
  if (mm::has_tokenizer_file(config.model)) {
    try {
      text = std::make_shared<mm::ModelText>(
          mm::ModelTextOptions{.model = config.model,
                               .chat_template_file = config.chat_template,
                               .reasoning_parser = config.reasoning_parser,
                               .enable_auto_tool_choice = config.enable_auto_tool_choice,
                               .max_prompt_bytes = config.max_prompt_bytes});
      mm::log_info("chat template: " + text->template_source());
      setup.engine.settings.push_back(mm::chat_template_setting(config, text->template_source()));
      // MiniMax ends every message with [e~[ (minimax-m2.md §4.3): always a stop token.
      if (auto end = text->end_of_message_id()) {
        auto& eos = setup.engine.eos_token_ids;
        if (std::find(eos.begin(), eos.end(), *end) == eos.end()) eos.push_back(*end);
      }
    } catch (const std::exception& error) {
      mm::log_error(std::string("mmd: ") + error.what());
      return 2;
    }
  } else {
    mm::log_notice(config.model + " has no tokenizer.json: serving token-id prompts only");
  }
#ifdef MMD_HAVE_DBUS
  const std::string bus = config.bus;
  mm::DbusServiceOptions dbus_options;
  dbus_options.bus = bus == "auto" ? "system" : bus;
  dbus_options.model = config.model;
  dbus_options.text = text;  // the same text layer as shm and HTTP: one prompt path
  dbus_options.defaults = setup.default_sampling;
  dbus_options.limits = mm::ModelLimits{setup.engine.scheduler.max_model_len, setup.vocab_size};
#endif
  std::unique_ptr<mm::OpenAiFrontend> http;
  if (config.port != 0) {
    mm::OpenAiOptions o;
    o.http.host = config.host;
    o.http.port = config.port;
    o.http.limits.max_body_bytes = config.http_max_body_bytes;
    o.http.idle_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(config.http_idle_timeout_seconds * 1000.0));
    o.served_model_name = setup.served_model_name;
    o.daemon_version = MMD_VERSION;
    o.api_key = config.api_key;
    o.http.header_timeout = std::chrono::milliseconds(
        static_cast<int64_t>(config.http_header_timeout_seconds * 1000.0));
    o.http.body_timeout = std::chrono::milliseconds(
        static_cast<int64_t>(config.http_body_timeout_seconds * 1000.0));
    o.http.max_connections = config.http_max_connections;
    o.allowed_origins = split_list(config.allowed_origins);
    o.allowed_hosts = split_list(config.allowed_hosts);
    o.default_sampling = setup.default_sampling;
    o.text = text;
    o.enable_auto_tool_choice = config.enable_auto_tool_choice;
    o.reasoning_parser = !config.reasoning_parser.empty();
    o.max_model_len = setup.engine.scheduler.max_model_len;
    o.vocab_size = setup.vocab_size;
    o.max_waiting_requests = config.max_waiting_requests;
    if (text) {
      try {
        o.tokenizer_info = mm::http::tokenizer_info_json(config.model, config.chat_template);
      } catch (const std::exception& error) {
        mm::log_warning(std::string("mmd: /tokenizer_info is off: ") + error.what());
      }
    }
    http = std::make_unique<mm::OpenAiFrontend>(std::move(o));
  }
  mm::Daemon daemon(std::move(config), std::move(setup));
  if (http) daemon.add_frontend(std::move(http));
  if (text) daemon.set_text_adapter(text);
#ifdef MMD_HAVE_DBUS
  if (bus != "none") {
    daemon.add_frontend(std::make_unique<mm::DbusFrontend>(dbus_options, bus != "auto"));
  }
#endif
  return daemon.run();
}
