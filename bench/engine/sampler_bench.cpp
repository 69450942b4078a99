// Host cost of sampling at the real MiniMax-M2 vocabulary (200,064), and of the rest of a
// step's host work at 64 sequences (bench/RESULTS.md "Sampler at 200,064"):
//   BM_SampleOne          one sequence: greedy, the seed cards' temperature 1 / top_p 0.95 /
//                         top_k 40, top_p alone, min_p, top_k with logprobs, plain sampling
//   BM_SampleStep         a 64-sequence step on the BatchSampler (threads: 1 = serial)
//   BM_StepLogitsCopy     what ModelRunner::forward does with the logits: a fresh
//                         [64, 200064] f32 vector, then the copy from the backend's buffer
//                         (BM_StepLogitsCopyReused: into a buffer kept across steps, what
//                         forward_in_place does on a GPU; on the CPU it copies nothing)
//   BM_StepDetokenize     64 streaming detokenizers fed one token each, with two stop strings
//                         (stop-string matching), plus the engine's EOS / stop-id checks
//   BM_HostStep           a step of the engine: the sampler on the runner's logits where
//                         they lie (forward_in_place on the CPU backend) and the detokenizers
// No refresh of the logits between iterations: with temperature 1 and no penalties the sampler
// reads them without writing. Rows rotate through more memory than L2 holds, as fresh logits.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "daemon/engine/batch_sampler.h"
#include "daemon/engine/sampler.h"
#include "daemon/text/detokenizer.h"
#include "daemon/text/tokenizer.h"

namespace mm {
namespace {

constexpr int kVocab = 200064;
constexpr int kSeqs = 64;

// Logits shaped like a language model's: a Gaussian body (sigma 2) and a few dozen ids lifted
// 10-18 above it, so top_p 0.95 keeps tens of ids (a "peaked" step). `flat` leaves the body
// alone: top_p 0.95 then keeps about half the vocabulary (far flatter than a trained model).
std::vector<float> make_logits(uint32_t seed, bool flat = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> body(0.0f, 2.0f);
  std::vector<float> logits(kVocab);
  for (float& v : logits)
    v = body(rng);
  if (!flat) {
    std::uniform_int_distribution<int> id(0, kVocab - 1);
    std::uniform_real_distribution<float> lift(10.0f, 18.0f);
    for (int i = 0; i < 32; ++i)
      logits[static_cast<size_t>(id(rng))] += lift(rng);
  }
  return logits;
}

// [num_rows, kVocab] of make_logits rows.
std::vector<float> make_rows(int num_rows, bool flat = false) {
  std::vector<float> rows(static_cast<size_t>(num_rows) * kVocab);
  for (int r = 0; r < num_rows; ++r) {
    const auto row = make_logits(static_cast<uint32_t>(r), flat);
    std::copy(row.begin(), row.end(), rows.begin() + static_cast<ptrdiff_t>(r) * kVocab);
  }
  return rows;
}

SamplingParams params_for(int kind) {
  SamplingParams p;
  switch (kind) {
    case 0:
      p.temperature = 0.0f;
      break;  // greedy
    case 1:
      p.top_p = 0.95f, p.top_k = 40;
      break;
    case 2:
      p.top_p = 0.95f;
      break;
    case 3:
      p.min_p = 0.05f;
      break;
    case 4:
      p.top_p = 0.95f, p.top_k = 40, p.logprobs = 5;
      break;
    default:
      break;  // pure temperature-1 sampling over the whole vocabulary
  }
  return p;
}

const std::vector<int32_t> kPrompt(512, 7), kOutput(100, 9);

// Args: params kind (0 greedy, 1 top_p + top_k, 2 top_p, 3 min_p, 4 top_k + logprobs,
// 5 plain), flat logits.
void BM_SampleOne(benchmark::State& state) {
  const SamplingParams params = params_for(static_cast<int>(state.range(0)));
  constexpr int kRows = 8;  // 6.4 MB: more than a core's L2
  std::vector<float> rows = make_rows(kRows, state.range(1) != 0);
  uint64_t i = 0;
  for (auto _ : state) {
    const auto row = std::span(rows).subspan((i % kRows) * kVocab, kVocab);
    SamplerContext context{kPrompt, kOutput, {}, i++};
    benchmark::DoNotOptimize(sample_token(row, params, context));
  }
}
BENCHMARK(BM_SampleOne)
    ->ArgNames({"kind", "flat"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({2, 1})
    ->Args({3, 0})
    ->Args({4, 0})
    ->Args({5, 0})
    ->Unit(benchmark::kMicrosecond);

std::vector<SampleJob> step_jobs(std::vector<float>& rows, const SamplingParams& params,
                                 uint64_t step) {
  std::vector<SampleJob> jobs;
  for (int s = 0; s < kSeqs; ++s) {
    jobs.push_back({std::span(rows).subspan(static_cast<size_t>(s) * kVocab, kVocab), &params,
                    SamplerContext{kPrompt, kOutput, {}, step * kSeqs + static_cast<uint64_t>(s)}});
  }
  return jobs;
}

// Args: params kind, sampler threads (1: serial on the calling thread).
void BM_SampleStep(benchmark::State& state) {
  const SamplingParams params = params_for(static_cast<int>(state.range(0)));
  BatchSampler sampler(static_cast<int>(state.range(1)));
  std::vector<float> rows = make_rows(kSeqs);
  std::vector<SampleResult> results(kSeqs);
  uint64_t step = 0;
  for (auto _ : state) {
    const auto jobs = step_jobs(rows, params, step++);
    sampler.sample(jobs, results);
    benchmark::DoNotOptimize(results.data());
  }
}
BENCHMARK(BM_SampleStep)
    ->ArgNames({"kind", "threads"})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({2, 1})
    ->Args({2, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_StepLogitsCopy(benchmark::State& state) {
  const std::vector<float> device = make_rows(kSeqs);
  for (auto _ : state) {
    std::vector<float> logits(device.size());
    std::memcpy(logits.data(), device.data(), device.size() * sizeof(float));
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(device.size() * sizeof(float)));
}
BENCHMARK(BM_StepLogitsCopy)->Unit(benchmark::kMillisecond);

// The same copy into a buffer kept from the previous step (no allocation, no page faults).
void BM_StepLogitsCopyReused(benchmark::State& state) {
  const std::vector<float> device = make_rows(kSeqs);
  std::vector<float> logits(device.size());
  for (auto _ : state) {
    std::memcpy(logits.data(), device.data(), device.size() * sizeof(float));
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(device.size() * sizeof(float)));
}
BENCHMARK(BM_StepLogitsCopyReused)->Unit(benchmark::kMillisecond);

// 64 requests' detokenizers over a realistic token stream (the fixture tokenizer's encoding
// of English text; its vocabulary is small, but a push costs the same whatever the vocabulary).
struct Detokenizers {
  text::Tokenizer tokenizer = text::Tokenizer::from_file(std::string(MMD_FIXTURE_DIR) +
                                                         "/text/minimax_test.tokenizer.json");
  std::vector<int32_t> stream;
  std::vector<text::StreamingDetokenizer> streams;
  std::vector<int32_t> eos{200020}, stop_ids{200021};
  size_t position = 0;

  Detokenizers() {
    std::string text;
    for (int i = 0; i < 40; ++i)
      text += "The quick brown fox jumps over the lazy dog, and then it sleeps in the sun. ";
    stream = tokenizer.encode(text);
    reset();
  }
  void reset() {
    streams.clear();
    for (int s = 0; s < kSeqs; ++s) {
      streams.emplace_back(tokenizer,
                           text::DetokenizerOptions{.stop_strings = {"\n\nUser:", "</answer>"}});
    }
  }
  // One step: each request's next token through its detokenizer, and the engine's checks.
  size_t step() {
    size_t bytes = 0;
    if (position + kSeqs >= stream.size()) {
      position = 0;
      reset();
    }
    for (int s = 0; s < kSeqs; ++s) {
      const int32_t id = stream[position + static_cast<size_t>(s)];
      bytes += streams[static_cast<size_t>(s)].push(id).size();
      bytes += static_cast<size_t>(std::find(eos.begin(), eos.end(), id) != eos.end());
      bytes +=
          static_cast<size_t>(std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end());
    }
    ++position;
    return bytes;
  }
};

void BM_StepDetokenize(benchmark::State& state) {
  Detokenizers d;
  for (auto _ : state)
    benchmark::DoNotOptimize(d.step());
}
BENCHMARK(BM_StepDetokenize)->Unit(benchmark::kMicrosecond);

// Args: params kind, sampler threads.
void BM_HostStep(benchmark::State& state) {
  const SamplingParams params = params_for(static_cast<int>(state.range(0)));
  BatchSampler sampler(static_cast<int>(state.range(1)));
  const std::vector<float> device = make_rows(kSeqs);
  Detokenizers d;
  std::vector<SampleResult> results(kSeqs);
  uint64_t step = 0;
  std::vector<float> logits = device;  // the lm_head's output buffer, reused every step
  for (auto _ : state) {
    const auto jobs = step_jobs(logits, params, step++);
    sampler.sample(jobs, results);
    benchmark::DoNotOptimize(d.step());
  }
}
BENCHMARK(BM_HostStep)
    ->ArgNames({"kind", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace mm

BENCHMARK_MAIN();
