// Communicator over NCCL for GPU ranks: one rank per GPU, started by mpirun like the CPU
// ranks; rank 0 makes the NCCL unique id and the MPI group broadcasts it (ncclCommInitRank).
// The spans passed to its collectives are device memory of this rank's GPU; each call runs
// on the communicator's stream and waits for it. Built with the CUDA backend (MMD_CUDA).
#pragma once

#include <memory>

#include "kernels/comm/communicator.h"

namespace mm {

class NcclCommunicator {
 public:
  // Number of CUDA devices this process sees (0 without a driver or GPU).
  static int device_count();
  // A communicator over the same ranks as `bootstrap` (an MPI group), on CUDA device `device`.
  // Throws CommError naming the CUDA or NCCL call that failed.
  static std::unique_ptr<Communicator> create(Communicator& bootstrap, int device);
};

}  // namespace mm
