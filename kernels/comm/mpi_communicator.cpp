#include "kernels/comm/mpi_communicator.h"

#include <mpi.h>

#include <cstdlib>
#include <mutex>

namespace mm {
namespace {

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

void check(int code, const char* call) {
  if (code != MPI_SUCCESS)
    throw CommError(std::string("MPI ") + call + " failed: " + mpi_error(code));
}

// MPI_Init once per process (the engine thread is the only one that calls MPI afterwards, so
// MPI_THREAD_SERIALIZED is enough), MPI_Finalize at exit.
void initialise_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_SERIALIZED)
      throw CommError("MPI provides thread level " + std::to_string(provided) +
                      "; mmd needs MPI_THREAD_SERIALIZED");
    std::atexit([] {
      int finalised = 0;
      MPI_Finalized(&finalised);
      if (!finalised) MPI_Finalize();
    });
  });
}

class Mpi final : public Communicator {
 public:
  Mpi() {
    initialise_once();
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    // Report failures to the caller (then the job ends) instead of aborting inside MPI.
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  ~Mpi() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }

  void all_reduce_sum(std::span<float> data) override {
    // OpenMPI's algorithms combine the ranks' contributions in one order for all ranks
    // (recursive doubling pairs commute; ring reduce-scatter reduces each slice once and then
    // gathers it), so every rank receives the same bits; the tests assert it.
    check(MPI_Allreduce(MPI_IN_PLACE, data.data(), count(data.size()), MPI_FLOAT, MPI_SUM, comm_),
          "MPI_Allreduce");
  }
  void all_gather(std::span<const float> mine, std::span<float> all) override {
    if (all.size() != mine.size() * static_cast<size_t>(size_))
      throw CommError("all_gather: output holds " + std::to_string(all.size()) + " floats, not " +
                      std::to_string(size_) + " x " + std::to_string(mine.size()));
    check(MPI_Allgather(mine.data(), count(mine.size()), MPI_FLOAT, all.data(), count(mine.size()),
                        MPI_FLOAT, comm_),
          "MPI_Allgather");
  }
  void broadcast(std::span<std::byte> data, int root) override {
    if (root < 0 || root >= size_)
      throw CommError("broadcast: root " + std::to_string(root) + " of a " + std::to_string(size_) +
                      "-rank group");
    check(MPI_Bcast(data.data(), count(data.size()), MPI_BYTE, root, comm_), "MPI_Bcast");
  }

 private:
  static int count(size_t n) {
    if (n > static_cast<size_t>(INT32_MAX))
      throw CommError("a collective of more than 2^31 elements");
    return static_cast<int>(n);
  }
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

bool MpiCommunicator::launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

std::unique_ptr<Communicator> MpiCommunicator::create() {
  return std::make_unique<Mpi>();
}

}  // namespace mm
