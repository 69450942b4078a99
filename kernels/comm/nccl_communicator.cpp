#include "kernels/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

namespace mm {
namespace {

void check_cuda(cudaError_t code, const char* call) {
  if (code != cudaSuccess)
    throw CommError(std::string(call) + " failed: " + cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const char* call) {
  if (code != ncclSuccess)
    throw CommError(std::string(call) + " failed: " + ncclGetErrorString(code));
}

class Nccl final : public Communicator {
 public:
  Nccl(Communicator& bootstrap, int device)
      : rank_(bootstrap.rank()), size_(bootstrap.size()), device_(device) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id{};
    if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    bootstrap.broadcast(std::as_writable_bytes(std::span(&id, 1)), 0);
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~Nccl() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "nccl"; }

  void all_reduce_sum(std::span<float> data) override {
    check_nccl(
        ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat, ncclSum, comm_, stream_),
        "ncclAllReduce");
    wait("ncclAllReduce");
  }
  void all_gather(std::span<const float> mine, std::span<float> all) override {
    if (all.size() != mine.size() * static_cast<size_t>(size_))
      throw CommError("all_gather: output holds " + std::to_string(all.size()) + " floats, not " +
                      std::to_string(size_) + " x " + std::to_string(mine.size()));
    check_nccl(ncclAllGather(mine.data(), all.data(), mine.size(), ncclFloat, comm_, stream_),
               "ncclAllGather");
    wait("ncclAllGather");
  }
  void broadcast(std::span<std::byte> data, int root) override {
    if (root < 0 || root >= size_)
      throw CommError("broadcast: root " + std::to_string(root) + " of a " + std::to_string(size_) +
                      "-rank group");
    check_nccl(
        ncclBroadcast(data.data(), data.data(), data.size(), ncclUint8, root, comm_, stream_),
        "ncclBroadcast");
    wait("ncclBroadcast");
  }

 private:
  void wait(const char* call) { check_cuda(cudaStreamSynchronize(stream_), call); }
  int rank_;
  int size_;
  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

int NcclCommunicator::device_count() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

std::unique_ptr<Communicator> NcclCommunicator::create(Communicator& bootstrap, int device) {
  return std::make_unique<Nccl>(bootstrap, device);
}

}  // namespace mm
