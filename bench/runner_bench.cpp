// Decode and prefill throughput of the model runner, with the machine's memory bandwidth
// measured in the same run (a STREAM-like triad), so decode can be read as achieved bytes/s
// over that bandwidth. Checkpoints: the tiny fixture, and the synthetic mid-size pair written by
// make_checkpoint (see bench/RESULTS.md for the commands). Run:
//   runner_bench [--ckpt=NAME:DIR ...] [--cpu-numerics=fast|exact] [--device=cuda --peak-gbs=3350]
//                [google-benchmark flags]
// --cpu-numerics picks the CPU linear kernels (default fast, the daemon's default; exact: the
// f32 kernels), one per run so the benchmark names stay the same for both.
// On a GPU (--device, a cuda-preset build) the roofline is the device's memory bandwidth, given
// by --peak-gbs (the data sheet's figure: H100 SXM 3350, H200 4800), not the host triad.
// Default checkpoints: tiny (tests/fixtures/tiny-fp8-w4a16-g32) and, when present,
// /tmp/mmd-bench/mid-w4a16-fp8 and /tmp/mmd-bench/mid-bf16.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "bench/triad.h"
#include "daemon/model/model_runner.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/thread_pool.h"

namespace {

constexpr int kPromptTokens = 16;
constexpr int kMaxDecodePositions = 256;  // decode positions wrap here (slots are overwritten)
constexpr int kPrefillTokens = 128;
constexpr int kLongPrefillTokens = 512;

double g_triad_bytes_per_s = 0;
std::string g_device = "cpu";
mm::CpuNumerics g_numerics = mm::CpuNumerics::kFast;

using mm::bench::measure_triad;

void bm_triad(benchmark::State& state) {
  mm::ThreadPool pool(0);
  for (auto _ : state) {
    const double bw = measure_triad(pool, 1);
    state.counters["GB/s"] = bw / 1e9;
  }
}

std::map<std::string, std::unique_ptr<mm::ModelRunner>>& runners() {
  static std::map<std::string, std::unique_ptr<mm::ModelRunner>> cache;
  return cache;
}

mm::ModelRunner& runner_for(const std::string& dir) {
  auto& slot = runners()[dir];
  if (!slot) {
    mm::RunnerOptions options;
    // 16 decode sequences' tables, then one prefill table after them.
    options.num_kv_blocks = 16 * (kMaxDecodePositions / 16 + 1) + kLongPrefillTokens / 16 + 1;
    options.device = g_device;
    options.cpu_numerics = g_numerics;
    options.count_weight_bytes = true;  // the bandwidth figures
    slot = mm::ModelRunner::load(dir, options);
  }
  return *slot;
}

std::vector<int32_t> blocks_of(int seq) {
  const int per_seq = kMaxDecodePositions / 16 + 1;
  std::vector<int32_t> table(static_cast<size_t>(per_seq));
  std::iota(table.begin(), table.end(), seq * per_seq);
  return table;
}

void bm_decode(benchmark::State& state, const std::string& dir) {
  mm::ModelRunner& runner = runner_for(dir);
  const int batch_size = static_cast<int>(state.range(0));
  const int block_size = runner.options().block_size;
  const int64_t vocab = runner.config().vocab_size;
  std::vector<std::vector<int32_t>> tables;
  {
    mm::ForwardBatch prefill;
    for (int s = 0; s < batch_size; ++s) {
      tables.push_back(blocks_of(s));
      std::vector<int32_t> prompt(kPromptTokens);
      for (int i = 0; i < kPromptTokens; ++i)
        prompt[static_cast<size_t>(i)] = static_cast<int32_t>((s * 977 + i * 131) % vocab);
      prefill.add_chunk(tables.back(), block_size, prompt, 0, false);
    }
    runner.forward(prefill);
  }
  int position = kPromptTokens;
  uint64_t bytes = 0;
  for (auto _ : state) {
    mm::ForwardBatch step;
    for (int s = 0; s < batch_size; ++s) {
      const int32_t token[1] = {static_cast<int32_t>((s * 31 + position * 7) % vocab)};
      step.add_chunk(tables[static_cast<size_t>(s)], block_size, token, position, false);
    }
    benchmark::DoNotOptimize(runner.forward(step));
    bytes += runner.last_forward_weight_bytes();
    if (++position >= kMaxDecodePositions) position = kPromptTokens;
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch_size),
                                               benchmark::Counter::kIsRate);
  state.counters["weightGB/s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e9, benchmark::Counter::kIsRate);
  state.counters["frac_of_triad"] = benchmark::Counter(
      static_cast<double>(bytes) / g_triad_bytes_per_s, benchmark::Counter::kIsRate);
}

void bm_prefill(benchmark::State& state, const std::string& dir, int num_tokens) {
  mm::ModelRunner& runner = runner_for(dir);
  const int block_size = runner.options().block_size;
  const int64_t vocab = runner.config().vocab_size;
  std::vector<int32_t> prompt(static_cast<size_t>(num_tokens));
  for (int i = 0; i < num_tokens; ++i)
    prompt[static_cast<size_t>(i)] = static_cast<int32_t>((i * 131 + 7) % vocab);
  // The blocks after the 16 decode sequences' tables (block_size 16).
  std::vector<int32_t> table(static_cast<size_t>(kLongPrefillTokens / 16 + 1));
  std::iota(table.begin(), table.end(), 16 * (kMaxDecodePositions / 16 + 1));
  for (auto _ : state) {
    mm::ForwardBatch batch;
    batch.add_chunk(table, block_size, prompt, 0, false);
    benchmark::DoNotOptimize(runner.forward(batch));
  }
  state.counters["tok/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * num_tokens), benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> checkpoints;
  std::vector<char*> rest = {argv[0]};
  double peak_gbs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("--device=")) {
      g_device = arg.substr(9);
    } else if (arg.starts_with("--cpu-numerics=")) {
      const auto numerics = mm::parse_cpu_numerics(arg.substr(15));
      if (!numerics) {
        std::fprintf(stderr, "runner_bench: --cpu-numerics must be fast or exact\n");
        return 2;
      }
      g_numerics = *numerics;
    } else if (arg.starts_with("--peak-gbs=")) {
      peak_gbs = std::stod(arg.substr(11));
    } else if (arg.starts_with("--ckpt=")) {
      const std::string spec = arg.substr(7);
      const size_t colon = spec.find(':');
      checkpoints.emplace_back(spec.substr(0, colon), spec.substr(colon + 1));
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (checkpoints.empty()) {
    checkpoints.emplace_back("tiny-w4a16-fp8",
                             std::string(MMD_SOURCE_DIR) + "/tests/fixtures/tiny-fp8-w4a16-g32");
    for (const char* name : {"mid-w4a16-fp8", "mid-bf16"}) {
      const std::string dir = std::string("/tmp/mmd-bench/") + name;
      if (std::filesystem::exists(dir + "/config.json")) checkpoints.emplace_back(name, dir);
    }
  }
  {
    mm::ThreadPool pool(0);
    g_triad_bytes_per_s = measure_triad(pool, 5);
    std::printf("isa %s, cpu numerics %s, %d threads, triad bandwidth %.2f GB/s (best of 5)\n",
                std::string(mm::cpu_isa_name(mm::detected_cpu_isa())).c_str(),
                std::string(mm::cpu_numerics_name(g_numerics)).c_str(), pool.num_threads(),
                g_triad_bytes_per_s / 1e9);
  }
  if (g_device != "cpu") {
    if (peak_gbs <= 0) {
      std::fprintf(stderr,
                   "runner_bench: --device=%s needs --peak-gbs=N (the device's memory "
                   "bandwidth in GB/s) for the roofline fraction\n",
                   g_device.c_str());
      return 2;
    }
    g_triad_bytes_per_s = peak_gbs * 1e9;
    std::printf("device %s, roofline %.0f GB/s (given)\n", g_device.c_str(), peak_gbs);
  }
  benchmark::RegisterBenchmark("triad", bm_triad)
      ->Iterations(5)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  for (const auto& [name, dir] : checkpoints) {
    benchmark::RegisterBenchmark(("decode/" + name).c_str(), bm_decode, dir)
        ->Arg(1)
        ->Arg(4)
        ->Arg(16)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(2.0);
    for (const int tokens : {kPrefillTokens, kLongPrefillTokens}) {
      benchmark::RegisterBenchmark(("prefill" + std::to_string(tokens) + "/" + name).c_str(),
                                   bm_prefill, dir, tokens)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(2.0);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
