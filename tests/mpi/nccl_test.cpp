// The NCCL communicator on this machine's GPUs, under mpirun (one rank per GPU): every
// collective on device memory, the NCCL id bootstrapped over MPI. Without a GPU it skips
// (exit 77) and says so.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/comm/mpi_communicator.h"
#include "kernels/comm/nccl_communicator.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAIL: %s\n", what);
  }
}

}  // namespace

int main() {
  auto mpi = mm::MpiCommunicator::create();
  const int devices = mm::NcclCommunicator::device_count();
  std::vector<float> have = {static_cast<float>(devices >= mpi->size() ? 1 : 0)};
  mpi->all_reduce_sum(have);
  if (have[0] < static_cast<float>(mpi->size())) {
    if (mpi->rank() == 0)
      std::printf("SKIP: %d rank(s) need as many CUDA devices; this machine has %d\n", mpi->size(),
                  devices);
    return 77;
  }
  auto nccl = mm::NcclCommunicator::create(*mpi, mpi->rank());
  const int n = nccl->size();
  const size_t length = 3072 * 8 + 5;
  std::vector<float> host(length);
  for (size_t i = 0; i < length; ++i)
    host[i] = static_cast<float>((nccl->rank() + 1) * static_cast<int>(i % 1000));
  float* device = nullptr;
  cudaMalloc(&device, length * sizeof(float) * static_cast<size_t>(n));
  cudaMemcpy(device, host.data(), length * sizeof(float), cudaMemcpyHostToDevice);
  nccl->all_reduce_sum(std::span(device, length));
  cudaMemcpy(host.data(), device, length * sizeof(float), cudaMemcpyDeviceToHost);
  bool sums = true;
  for (size_t i = 0; i < length; ++i)
    sums = sums && host[i] == static_cast<float>(n * (n + 1) / 2 * static_cast<int>(i % 1000));
  expect(sums, "all_reduce_sum of integer-valued floats is exact on every rank");

  std::vector<float> mine(7, static_cast<float>(nccl->rank()));
  float* d_mine = nullptr;
  cudaMalloc(&d_mine, mine.size() * sizeof(float));
  cudaMemcpy(d_mine, mine.data(), mine.size() * sizeof(float), cudaMemcpyHostToDevice);
  nccl->all_gather(std::span<const float>(d_mine, mine.size()),
                   std::span(device, mine.size() * static_cast<size_t>(n)));
  std::vector<float> all(mine.size() * static_cast<size_t>(n));
  cudaMemcpy(all.data(), device, all.size() * sizeof(float), cudaMemcpyDeviceToHost);
  bool order = true;
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < mine.size(); ++i)
      order = order && all[static_cast<size_t>(r) * mine.size() + i] == static_cast<float>(r);
  expect(order, "all_gather concatenates in rank order");

  std::vector<std::byte> bytes(100, std::byte{0});
  if (nccl->rank() == 0) std::memset(bytes.data(), 0x5A, bytes.size());
  auto* d_bytes = reinterpret_cast<std::byte*>(device);
  cudaMemcpy(d_bytes, bytes.data(), bytes.size(), cudaMemcpyHostToDevice);
  nccl->broadcast(std::span(d_bytes, bytes.size()), 0);
  cudaMemcpy(bytes.data(), d_bytes, bytes.size(), cudaMemcpyDeviceToHost);
  bool same = true;
  for (std::byte b : bytes)
    same = same && b == std::byte{0x5A};
  expect(same, "broadcast from rank 0");
  cudaFree(d_mine);
  cudaFree(device);
  std::vector<float> bad = {static_cast<float>(failures)};
  mpi->all_reduce_sum(bad);
  if (mpi->rank() == 0)
    std::printf("%s: NCCL collectives on %d GPU(s)\n", bad[0] == 0 ? "ok" : "FAIL", n);
  return bad[0] == 0 ? 0 : 1;
}
