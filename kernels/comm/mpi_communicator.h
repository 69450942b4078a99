// Communicator over MPI (Debian's OpenMPI): the ranks `mpirun -np N` started, on one host or
// several. MPI is initialised once per process (MpiCommunicator::create) and finalised at
// exit; errors come back as CommError instead of aborting, so the caller can say which call
// failed before the job ends. OpenMPI's mpirun ends every rank when one dies.
#pragma once

#include <memory>

#include "kernels/comm/communicator.h"

namespace mm {

class MpiCommunicator {
 public:
  // True when this process was started by mpirun (or another MPI launcher).
  static bool launched_by_mpi();
  // A communicator over all the job's ranks (a duplicate of MPI_COMM_WORLD).
  // Throws CommError when MPI cannot start.
  static std::unique_ptr<Communicator> create();
};

}  // namespace mm
