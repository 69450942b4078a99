// Tensor-parallel forward on CPU ranks, under `mpirun -np 2` and `-np 4`: every rank loads its
// share of the model, and the logits and greedy continuation equal the one-rank runner's
// (which every rank also loads) on the fixtures and the bundled model. With
// MMD_TEST_DEVICE=cuda (cuda preset) the ranks are GPU ranks: rank r on GPU r, the runner's
// collectives over NCCL; the test exits 77 (skipped) with fewer GPUs than ranks.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/comm/mpi_communicator.h"
#ifdef MMD_HAVE_NCCL
#include "kernels/comm/nccl_communicator.h"
#endif
#include "tests/mpi/run_on_every_rank.h"
#include "tests/unit/runner/golden.h"

namespace mm::testing {
namespace {

Communicator* comm = nullptr;         // the MPI group
Communicator* collectives = nullptr;  // what sharded runners sum over: comm, or NCCL on GPUs

// This rank's backend: the CPU, or its own GPU.
std::string rank_device() {
  return test_device() == "cpu" ? "cpu" : "cuda:" + std::to_string(comm->rank());
}

// Logit tolerance relative to the largest |logit|: sharding reorders f32 sums (each rank sums
// its heads / intermediate slice, then the all-reduce adds the ranks' partials), and the q/k
// norms' sums of squares cross ranks in f32 instead of one f64 sum — a few ulps per layer,
// ~1e-6 relative after 2-4 layers. 2e-5 is the same bound the one-rank goldens use against
// transformers, and 10^4 below what a wrong shard (a head or expert slice misplaced) gives.
constexpr double kTolerance = 2e-5;

struct Model {
  const char* folder;  // under tests/fixtures, or models/minimax-m2-tiny when bundled
  bool bundled;
};

// One rank's runner (group null) or this rank's shard (group = the MPI communicator). runtime_quant
// false runs W8A8 as W8A16 (exact products): the strict comparison.
std::unique_ptr<ModelRunner> load_runner(const std::filesystem::path& path, Communicator* group,
                                         bool runtime_quant = false) {
  RunnerOptions options;
  options.kv_dtype = KvDType::kF32;
  options.num_kv_blocks = 128;
  options.num_threads = 1;
  options.device = rank_device();
  options.comm = group == comm ? collectives : group;
  options.runtime_activation_quant = runtime_quant;
  // The exact-f32 CPU kernels: the strict comparison above (fast numerics would add int8
  // activation rounding to both sides).
  options.cpu_numerics = CpuNumerics::kExact;
  return ModelRunner::load(path, options);
}

class TensorParallelRunner : public ::testing::TestWithParam<Model> {
 protected:
  std::filesystem::path path() const {
    return GetParam().bundled ? std::filesystem::path(MMD_SOURCE_DIR) / "models/minimax-m2-tiny" /
                                    GetParam().folder
                              : fixture_dir() / GetParam().folder;
  }
  std::unique_ptr<ModelRunner> load(Communicator* group) const {
    return load_runner(path(), group);
  }
};

TEST_P(TensorParallelRunner, LogitsAndGreedyEqualOneRank) {
  auto sharded = load(comm);
  auto whole = load(nullptr);
  const int64_t vocab = whole->config().vocab_size;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 37; ++i)
    prompt.push_back(static_cast<int32_t>((i * 37 + 11) % (vocab - 3) + 3));
  // Chunks of 7: prefill chunks and the cached prefix both cross the ranks.
  const std::vector<float> got = prefill_all_logits(*sharded, prompt, 7);
  const std::vector<float> want = prefill_all_logits(*whole, prompt, 7, 32);
  ASSERT_EQ(got.size(), want.size());
  const ErrorStats err = compare(got, want);
  if (comm->rank() == 0)
    std::printf("%s, %d ranks: max abs err %.3g, max |ref| %.3g, rel %.3g\n", GetParam().folder,
                comm->size(), err.max_abs, err.ref_max, err.rel());
  EXPECT_LE(err.rel(), kTolerance);
  // Fresh runners for the greedy runs (their KV caches start empty).
  auto sharded2 = load(comm);
  auto whole2 = load(nullptr);
  EXPECT_EQ(greedy(*sharded2, prompt, 32), greedy(*whole2, prompt, 32)) << GetParam().folder;
}

// W8A8 with its run-time int8 activations: a row-parallel layer (o_proj, w2) sees only its
// rank's columns, so each per-token scale comes from that slice's maximum, as in vLLM's
// tensor parallelism; the int8 rounding differs from one rank's, its size does not. Bound: 3×
// the distance between one rank's W8A8 and W8A16 logits (the size of that rounding here).
TEST(TensorParallelRunnerW8A8, RuntimeInt8ActivationsStayWithinTheirOwnRounding) {
  auto load = [](Communicator* group, bool runtime_quant) {
    return load_runner(fixture_dir() / "tiny-w8a8-int8", group, runtime_quant);
  };
  std::vector<int32_t> prompt;
  for (int i = 0; i < 37; ++i)
    prompt.push_back(static_cast<int32_t>((i * 37 + 11) % 253 + 3));
  const std::vector<float> sharded = prefill_all_logits(*load(comm, true), prompt, 7);
  const std::vector<float> whole = prefill_all_logits(*load(nullptr, true), prompt, 7);
  const std::vector<float> w8a16 = prefill_all_logits(*load(nullptr, false), prompt, 7);
  const double rounding = compare(whole, w8a16).rel();
  const double split = compare(sharded, whole).rel();
  if (comm->rank() == 0)
    std::printf("W8A8 %d ranks: vs one rank %.3g, one rank's int8 rounding %.3g\n", comm->size(),
                split, rounding);
  EXPECT_GT(rounding, 0.0);
  EXPECT_LE(split, 3 * rounding);
}

// The shapes split over 2 and 4 ranks (4 query heads, 2 KV heads: replicated at 4 ranks;
// intermediate 128 = 4 × 32, a whole group of 32 per rank for the int4 experts).
INSTANTIATE_TEST_SUITE_P(
    Models, TensorParallelRunner,
    ::testing::Values(Model{"tiny-bf16", false}, Model{"tiny-w8a8-int8", false},
                      Model{"tiny-bf16-w4a16-g32-lastbf16", false}, Model{"bf16", true},
                      Model{"bf16-w4a16-g32-lastbf16", true}),
    [](const auto& param_info) {
      std::string name =
          std::string(param_info.param.bundled ? "bundled_" : "") + param_info.param.folder;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(TensorParallelRunnerErrors, AnImpossibleSplitNamesTheLayer) {
  if (comm->size() == 1) GTEST_SKIP() << "one rank splits nothing";
  RunnerOptions options;
  options.comm = comm;
  try {
    // FP8 128x128 blocks: the tiny fixture's attention slices (64 or 32 rows) cut a block.
    ModelRunner::load(fixture_dir() / "tiny-fp8", options);
    ADD_FAILURE() << "loaded";
  } catch (const std::exception& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("model.layers.0.self_attn."), std::string::npos) << what;
    EXPECT_NE(what.find("not a multiple of its 128-row scale blocks"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace mm::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = mm::MpiCommunicator::create();
  mm::testing::comm = comm.get();
  mm::testing::collectives = comm.get();
  std::unique_ptr<mm::Communicator> nccl;
  if (mm::testing::test_device() != "cpu") {
    const std::string why = mm::testing::device_skip_reason();
    const int devices = mm::cuda_device_count();
    if (!why.empty() || devices < comm->size()) {
      if (comm->rank() == 0) {
        std::printf("SKIP: %s\n", !why.empty()
                                      ? why.c_str()
                                      : (std::to_string(comm->size()) +
                                         " GPU ranks need as many GPUs; this machine has " +
                                         std::to_string(devices))
                                            .c_str());
      }
      return 77;
    }
#ifdef MMD_HAVE_NCCL
    nccl = mm::NcclCommunicator::create(*comm, comm->rank());
    mm::testing::collectives = nccl.get();
#else
    if (comm->rank() == 0) std::printf("SKIP: built without NCCL\n");
    return 77;
#endif
  }
  return mm::testing::run_tests_on_every_rank(*comm);
}
