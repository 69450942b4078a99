#include "client/mmctl/run_command.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>

#include "client/mmctl/daemon_session.h"
#include "client/mmctl/exit_codes.h"
#include "client/mmctl/request_flags.h"
#include "daemon/model/load_error.h"
#include "daemon/model/model_runner.h"

namespace mm {
int run_run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string folder;
  std::vector<int32_t> prompt;
  int max_tokens = 32;
  bool json = false;
  RunnerOptions options;
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string arg = args[i];
      auto value = [&]() -> const std::string& { return flag_value(args, i, arg); };
      if (arg == "--tokens") {
        prompt = parse_token_list(value());
      } else if (arg == "--max-tokens") {
        max_tokens = parse_int_flag(arg, value());
      } else if (arg == "--threads") {
        options.num_threads = parse_int_flag(arg, value());
      } else if (arg == "--json") {
        json = true;
      } else if (arg == "--kv-cache-dtype") {
        const std::string& dtype = value();
        if (dtype == "bf16")
          options.kv_dtype = KvDType::kBf16;
        else if (dtype == "fp8")
          options.kv_dtype = KvDType::kFp8E4M3;
        else if (dtype == "f32")
          options.kv_dtype = KvDType::kF32;
        else
          throw std::invalid_argument("--kv-cache-dtype " + dtype + " is not bf16, fp8 or f32");
      } else if (!arg.starts_with("--") && folder.empty()) {
        folder = arg;
      } else {
        throw std::invalid_argument("unknown argument '" + arg + "'");
      }
    }
    if (folder.empty() || prompt.empty() || max_tokens < 1)
      throw std::invalid_argument("need a checkpoint, --tokens and --max-tokens ≥ 1");
  } catch (const std::exception& e) {
    err << "mmctl run: " << e.what() << "\n";
    return kExitUsage;
  }

  const int block_size = options.block_size;
  const int64_t total = static_cast<int64_t>(prompt.size()) + max_tokens;
  options.num_kv_blocks = total / block_size + 1;
  std::unique_ptr<ModelRunner> runner;
  try {
    runner = ModelRunner::load(folder, options);
  } catch (const LoadError& e) {
    err << "mmctl run: " << e.what() << "\n";
    return kExitBadCheckpoint;
  }
  std::vector<int32_t> table(static_cast<size_t>(options.num_kv_blocks));
  std::iota(table.begin(), table.end(), 0);
  const int64_t vocab = runner->config().vocab_size;
  try {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    ForwardBatch batch;
    batch.add_chunk(table, block_size, prompt, 0, false);
    std::vector<float> logits = runner->forward(batch);
    const auto t1 = Clock::now();
    std::vector<int32_t> generated;
    for (int step = 0; step < max_tokens; ++step) {
      const auto next = static_cast<int32_t>(
          std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
      generated.push_back(next);
      if (step + 1 == max_tokens) break;
      ForwardBatch decode;
      const int32_t token[1] = {next};
      decode.add_chunk(table, block_size, token, static_cast<int32_t>(prompt.size()) + step, false);
      logits = runner->forward(decode);
    }
    const auto t2 = Clock::now();
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(t2 - t1).count();
    const double decode_rate = max_tokens > 1 ? (max_tokens - 1) / decode_s : 0.0;
    if (json) {
      nlohmann::ordered_json result;
      result["tokens"] = generated;
      result["prompt_tokens"] = prompt.size();
      result["prefill_ms"] = prefill_s * 1e3;
      result["decode_ms"] = decode_s * 1e3;
      result["decode_tokens_per_second"] = decode_rate;
      result["kv_cache_dtype"] = kv_dtype_name(options.kv_dtype);
      out << result.dump() << "\n";
      return kExitOk;
    }
    for (size_t i = 0; i < generated.size(); ++i)
      out << (i ? "," : "") << generated[i];
    out << "\n";
    err << "prefill " << prompt.size() << " tokens in " << prefill_s * 1e3 << " ms; decode "
        << max_tokens - 1 << " tokens in " << decode_s * 1e3 << " ms (" << decode_rate
        << " tok/s), kv " << kv_dtype_name(options.kv_dtype) << "\n";
  } catch (const std::invalid_argument& e) {
    err << "mmctl run: " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace mm
