// Host-side cost of one scheduler step (schedule + step_done) with many running sequences:
// the overhead the engine adds to every forward pass, with no model involved.
#include <benchmark/benchmark.h>

#include <numeric>

#include "daemon/engine/scheduler.h"

namespace mm {
namespace {

void BM_SchedulerDecodeStep(benchmark::State& state) {
  const int num_seqs = static_cast<int>(state.range(0));
  const int prompt_len = 512;
  BlockPool pool(BlockPoolOptions{
      .block_size = 16, .blocks_per_chunk = 4096, .initial_num_chunks = 1, .max_num_chunks = 16});
  Scheduler scheduler(
      {.max_num_batched_tokens = 1 << 20, .max_num_seqs = num_seqs, .max_model_len = 1 << 16},
      pool);
  std::unordered_map<SeqId, int32_t> sampled;
  SeqId next_id = 0;
  // Fresh sequences with their prompts computed; each then decodes up to 64 tokens, so the
  // pool never fills and the step measured is a plain decode step.
  auto refill = [&] {
    for (const auto& [id, t] : sampled)
      scheduler.remove(id);
    sampled.clear();
    for (int s = 0; s < num_seqs; ++s) {
      std::vector<int32_t> prompt(prompt_len);
      std::iota(prompt.begin(), prompt.end(), static_cast<int32_t>(next_id * prompt_len));
      scheduler.add(next_id, std::move(prompt), 1 << 16);
      sampled[next_id++] = 1;
    }
    scheduler.step_done(scheduler.schedule(), sampled);
  };
  refill();
  int32_t token = 0;
  int steps = 0;
  for (auto _ : state) {
    if (++steps % 64 == 0) {
      state.PauseTiming();
      refill();
      state.ResumeTiming();
    }
    SchedulerOutput out = scheduler.schedule();
    for (auto& [id, t] : sampled)
      t = ++token;
    scheduler.step_done(out, sampled);
    benchmark::DoNotOptimize(out.num_batched_tokens);
  }
  state.counters["seqs"] = num_seqs;
}
BENCHMARK(BM_SchedulerDecodeStep)->Arg(1)->Arg(32)->Arg(256)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mm

BENCHMARK_MAIN();
