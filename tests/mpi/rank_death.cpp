// Rank 1 dies (exit 3) while rank 0 waits in an all-reduce: the job must end, not hang, and
// the launcher must say which rank died. Run through rank_death_test.sh.
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "kernels/comm/mpi_communicator.h"

int main() {
  auto comm = mm::MpiCommunicator::create();
  std::vector<float> data(1024, 1.0f);
  comm->all_reduce_sum(data);  // everyone alive: this completes
  if (comm->rank() == 1) _exit(3);
  try {
    comm->all_reduce_sum(data);
  } catch (const mm::CommError& error) {
    std::fprintf(stderr, "rank %d: %s\n", comm->rank(), error.what());
    return 2;
  }
  return 0;
}
