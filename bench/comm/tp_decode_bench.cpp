// Batch-1 decode of a checkpoint split over the MPI job's ranks (tensor parallelism on CPU):
// tokens/s and each rank's packed weight bytes per step, for the 1 → 2 rank scaling figure.
//   mpirun -np R tp_decode_bench MODEL_DIR [STEPS] [THREADS_PER_RANK]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "daemon/model/model_runner.h"
#include "kernels/comm/mpi_communicator.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mpirun -np R %s MODEL_DIR [STEPS] [THREADS_PER_RANK]\n", argv[0]);
    return 2;
  }
  const int steps = argc > 2 ? std::atoi(argv[2]) : 64;
  auto comm = mm::MpiCommunicator::create();
  mm::RunnerOptions options;
  options.num_kv_blocks = 32;
  options.num_threads = argc > 3 ? std::atoi(argv[3]) : 1;
  options.comm = comm.get();
  options.count_weight_bytes = true;  // the bandwidth figure
  auto runner = mm::ModelRunner::load(argv[1], options);
  const int block_size = runner->options().block_size;
  std::vector<int32_t> table(32);
  std::iota(table.begin(), table.end(), 0);
  std::vector<int32_t> prompt(16);
  for (int i = 0; i < 16; ++i)
    prompt[static_cast<size_t>(i)] =
        (i * 131 + 7) % static_cast<int32_t>(runner->config().vocab_size);
  mm::ForwardBatch prefill;
  prefill.add_chunk(table, block_size, prompt, 0, false);
  runner->forward(prefill);
  uint64_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    mm::ForwardBatch step;
    const int32_t token[1] = {static_cast<int32_t>((s * 7 + 3) % runner->config().vocab_size)};
    step.add_chunk(table, block_size, token, 16 + s, false);
    runner->forward(step);
    bytes += runner->last_forward_weight_bytes();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (comm->rank() == 0) {
    std::printf(
        "%s: %d rank(s) x %d thread(s): %.1f tok/s, %.1f MB of packed weights per rank per step\n",
        argv[1], comm->size(), options.num_threads, steps / seconds, bytes / 1e6 / steps);
  }
  return 0;
}
