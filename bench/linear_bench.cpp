// Single-thread throughput of the CPU linear kernels per weight format at batch 1 and 16
// (weight bytes streamed per second of CPU time), to compare with the triad bandwidth of
// runner_bench. Shapes: 1536×1024 (an expert projection of the mid-size bench model) — 1.5 MB
// of int4 to 6 MB of f32, so the larger formats come from L3/DRAM.
#include <benchmark/benchmark.h>

#include <random>

#include "kernels/cpu/int4_row_tiles.h"
#include "kernels/cpu/linear.h"
#include "tests/unit/cpu/random_weights.h"

namespace {

void bm_linear(benchmark::State& state, mm::PackedFormat format, bool int8_act, mm::CpuIsa isa,
               mm::CpuNumerics numerics, bool tiled) {
  const int64_t m_tokens = state.range(0);
  std::mt19937 rng(1);
  // Eight distinct weights (~12–48 MB) cycled so they do not all sit in the 32 MB L3.
  std::vector<mm::PackedLinear> weights;
  for (int i = 0; i < 8; ++i) {
    weights.push_back(mm::testing::random_linear(rng, format, 1536, 1024, format == mm::PackedFormat::kFp8Block ? 128 : 32, 128));
    weights.back().int8_activations = int8_act;
    if (tiled) mm::make_int4_tiles_resident(weights.back());  // as the CPU backend does
  }
  const std::vector<float> x = mm::testing::random_normal(rng, static_cast<size_t>(m_tokens * 1024));
  std::vector<float> y(static_cast<size_t>(m_tokens * 1536));
  mm::ThreadPool pool(1);
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const mm::PackedLinear& w = weights[i++ % weights.size()];
    mm::linear_cpu(pool, isa, w, x.data(), m_tokens, y.data(), numerics);
    benchmark::DoNotOptimize(y.data());
    bytes += static_cast<int64_t>(w.num_bytes());
  }
  state.SetBytesProcessed(bytes);
}

// A decode step's experts: 24 expert-shaped matrices (8 experts × w1, w3: 512×1024 and
// w2: 1024×512, the mid-size bench model's) per "layer", cycled over 64 MB of distinct weights
// so every byte comes from DRAM, on `threads` threads through run_linear_tasks as the MoE block
// runs them. Bytes per second here is what decode's expert share can reach.
void bm_experts(benchmark::State& state, mm::PackedFormat format, mm::CpuIsa isa,
                bool tiled) {
  const int64_t m_tokens = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  std::mt19937 rng(2);
  std::vector<mm::PackedLinear> weights;
  int64_t total = 0;
  while (total < (int64_t{64} << 20)) {
    const bool down = weights.size() % 3 == 2;
    weights.push_back(mm::testing::random_linear(rng, format, down ? 1024 : 512, down ? 512 : 1024,
                                                 format == mm::PackedFormat::kFp8Block ? 128 : 32, 128));
    if (tiled) mm::make_int4_tiles_resident(weights.back());
    total += static_cast<int64_t>(weights.back().num_bytes());
  }
  const std::vector<float> x = mm::testing::random_normal(rng, static_cast<size_t>(m_tokens * 1024));
  std::vector<float> y(static_cast<size_t>(24 * m_tokens * 1024));
  std::vector<mm::LinearScratch> scratch(24);
  std::vector<mm::LinearTask> tasks(24);
  mm::ThreadPool pool(threads);
  size_t next = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    for (size_t t = 0; t < tasks.size(); ++t) {
      const mm::PackedLinear& w = weights[next++ % weights.size()];
      tasks[t] = mm::prepare_linear(isa, w, x.data(), m_tokens, y.data() + t * m_tokens * 1024,
                                    scratch[t], mm::CpuNumerics::kFast);
      bytes += static_cast<int64_t>(w.num_bytes());
    }
    mm::run_linear_tasks(pool, tasks.data(), static_cast<int64_t>(tasks.size()));
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(bytes);
}

// The load-time cost of the row tiles: one MiniMax-M2 expert projection (1536 × 3072, g128)
// repacked per iteration; bytes per second of int4 data, to set against the checkpoint read.
void bm_tile_repack(benchmark::State& state) {
  std::mt19937 rng(3);
  const mm::PackedLinear w =
      mm::testing::random_linear(rng, mm::PackedFormat::kInt4Group, 1536, 3072, 128, 1);
  for (auto _ : state) {
    auto tiles = mm::make_int4_row_tiles(w);
    benchmark::DoNotOptimize(tiles->data.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(w.data.size()));
}

void register_all() {
  for (mm::CpuIsa isa : {mm::CpuIsa::kAvx2, mm::CpuIsa::kAvxVnni, mm::CpuIsa::kAvx512Vnni}) {
    if (!mm::cpu_supports(isa)) continue;
    for (const auto& [name, format] : {std::pair{"int4_g32", mm::PackedFormat::kInt4Group},
                                       std::pair{"fp8_block", mm::PackedFormat::kFp8Block}}) {
      benchmark::RegisterBenchmark(
          (std::string("experts/") + name + "/fast/" + std::string(mm::cpu_isa_name(isa))).c_str(),
          bm_experts, format, isa, false)
          ->Args({1, 1})->Args({1, 2})->Args({4, 2})->UseRealTime();
    }
  }
  benchmark::RegisterBenchmark("repack/int4_tiles/1536x3072", bm_tile_repack);
  // INT4 as the CPU backend makes it resident on AVX-512 VNNI: sixteen-row tiles.
  if (mm::cpu_supports(mm::CpuIsa::kAvx512Vnni)) {
    benchmark::RegisterBenchmark("experts/int4_g32/fast/avx512vnni_tiles", bm_experts,
                                 mm::PackedFormat::kInt4Group, mm::CpuIsa::kAvx512Vnni, true)
        ->Args({1, 1})->Args({1, 2})->Args({4, 2})->UseRealTime();
    benchmark::RegisterBenchmark("linear/int4_g32/fast/avx512vnni_tiles", bm_linear,
                                 mm::PackedFormat::kInt4Group, false, mm::CpuIsa::kAvx512Vnni,
                                 mm::CpuNumerics::kFast, true)
        ->Arg(1)->Arg(16)->Arg(64);
  }

  struct F {
    const char* name;
    mm::PackedFormat format;
    bool int8_act;
  };
  for (const F& f : {F{"f32", mm::PackedFormat::kF32, false}, F{"bf16", mm::PackedFormat::kBf16, false},
                     F{"fp8_block", mm::PackedFormat::kFp8Block, false},
                     F{"int4_g32", mm::PackedFormat::kInt4Group, false},
                     F{"int8_w8a16", mm::PackedFormat::kInt8Channel, false},
                     F{"int8_w8a8", mm::PackedFormat::kInt8Channel, true}}) {
    // exact: the f32 kernels (scalar, AVX2); fast: the int8-dot kernels of every ISA the CPU
    // has (formats without fast kernels run exact under either name, so they are listed once).
    const bool has_fast = f.format != mm::PackedFormat::kF32;
    for (mm::CpuIsa isa : {mm::CpuIsa::kScalar, mm::CpuIsa::kAvx2}) {
      if (!mm::cpu_supports(isa)) continue;
      benchmark::RegisterBenchmark(
          (std::string("linear/") + f.name + "/exact/" + std::string(mm::cpu_isa_name(isa))).c_str(),
          bm_linear, f.format, f.int8_act, isa, mm::CpuNumerics::kExact, false)
          ->Arg(1)->Arg(16);
    }
    if (!has_fast) continue;
    for (mm::CpuIsa isa : {mm::CpuIsa::kScalar, mm::CpuIsa::kAvx2, mm::CpuIsa::kAvxVnni, mm::CpuIsa::kAvx512Vnni}) {
      if (!mm::cpu_supports(isa)) continue;
      benchmark::RegisterBenchmark(
          (std::string("linear/") + f.name + "/fast/" + std::string(mm::cpu_isa_name(isa))).c_str(),
          bm_linear, f.format, f.int8_act, isa, mm::CpuNumerics::kFast, false)
          ->Arg(1)->Arg(16);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
