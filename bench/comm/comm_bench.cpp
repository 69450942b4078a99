// Collective overhead of a tensor-parallel decode step, under `mpirun -np N comm_bench`:
// the all-reduce of the hidden state (after o_proj and after the MoE: 2 per layer, 62 layers
// in MiniMax-M2), the q/k-norm sum of squares (2 floats per token per layer) and the lm_head
// all-gather of each rank's vocabulary slice, at batch 1, 8 and 64. Median of many repetitions;
// rank 0 prints a table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kernels/comm/mpi_communicator.h"

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double median_us(mm::Communicator& comm, int reps, F&& op) {
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    std::vector<float> sync(1);
    comm.all_reduce_sum(sync);  // start together
    const auto start = Clock::now();
    op();
    times.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main() {
  auto comm = mm::MpiCommunicator::create();
  constexpr int kHidden = 3072, kLayers = 62, kVocab = 200064;
  if (comm->rank() == 0) {
    std::printf(
        "ranks %d\n| batch | all-reduce hidden | q/k-norm all-reduce | lm_head all-gather | per "
        "decode step |\n"
        "| --- | --- | --- | --- | --- |\n",
        comm->size());
  }
  for (const int batch : {1, 8, 64}) {
    std::vector<float> hidden(static_cast<size_t>(kHidden) * batch, 1.0f);
    std::vector<float> norms(2 * static_cast<size_t>(batch), 1.0f);
    const size_t slice = static_cast<size_t>((kVocab + comm->size() - 1) / comm->size()) * batch;
    std::vector<float> mine(slice, 1.0f), all(slice * static_cast<size_t>(comm->size()));
    const int reps = batch == 64 ? 200 : 1000;
    const double reduce = median_us(*comm, reps, [&] { comm->all_reduce_sum(hidden); });
    const double norm = median_us(*comm, reps, [&] { comm->all_reduce_sum(norms); });
    const double gather =
        median_us(*comm, std::max(20, reps / 20), [&] { comm->all_gather(mine, all); });
    const double step = kLayers * (2 * reduce + norm) + gather;
    if (comm->rank() == 0)
      std::printf("| %d | %.1f µs | %.1f µs | %.1f µs | %.2f ms |\n", batch, reduce, norm, gather,
                  step / 1000.0);
  }
  return 0;
}
