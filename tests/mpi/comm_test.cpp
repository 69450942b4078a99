// The MPI communicator under `mpirun -np N` (ctest runs N = 2 and 4; one rank also works):
// every collective's result, on every rank, and bit-identical results across ranks.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/comm/mpi_communicator.h"
#include "tests/mpi/run_on_every_rank.h"

namespace mm {
namespace {

Communicator* comm = nullptr;

TEST(MpiCommunicator, RankAndSizeComeFromTheLauncher) {
  EXPECT_EQ(comm->kind(), "mpi");
  EXPECT_GE(comm->size(), 1);
  EXPECT_GE(comm->rank(), 0);
  EXPECT_LT(comm->rank(), comm->size());
  if (const char* size = std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_EQ(comm->size(), std::atoi(size));
  }
}

// Integer-valued floats sum exactly, so the expected value is exact whatever the order.
TEST(MpiCommunicator, AllReduceSumsEveryRanksContribution) {
  const int n = comm->size();
  for (const size_t length : {size_t{1}, size_t{3}, size_t{3072}, size_t{1} << 20}) {
    std::vector<float> data(length);
    for (size_t i = 0; i < length; ++i)
      data[i] = static_cast<float>((comm->rank() + 1) * static_cast<int>(i % 1000));
    comm->all_reduce_sum(data);
    const float ranks = static_cast<float>(n * (n + 1) / 2);
    for (size_t i = 0; i < length; ++i) {
      ASSERT_EQ(data[i], ranks * static_cast<float>(i % 1000))
          << "length " << length << " index " << i;
    }
  }
}

// Rounding depends on the order of the sum: every rank must still get the same bits, or the
// ranks' copies of the residual stream would drift apart step by step.
TEST(MpiCommunicator, AllReduceGivesEveryRankTheSameBits) {
  for (const size_t length : {size_t{7}, size_t{3072}, size_t{1} << 18}) {
    std::mt19937 random(1234 + static_cast<uint32_t>(comm->rank()));
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::vector<float> data(length);
    for (float& v : data)
      v = normal(random);
    comm->all_reduce_sum(data);
    std::vector<float> all(length * static_cast<size_t>(comm->size()));
    comm->all_gather(data, all);
    for (int r = 0; r < comm->size(); ++r) {
      ASSERT_EQ(std::memcmp(all.data() + static_cast<size_t>(r) * length, data.data(),
                            length * sizeof(float)),
                0)
          << "rank " << r << " got other bits than rank " << comm->rank() << " (length " << length
          << ")";
    }
  }
}

TEST(MpiCommunicator, AllGatherConcatenatesInRankOrder) {
  const size_t length = 5;
  std::vector<float> mine(length);
  for (size_t i = 0; i < length; ++i)
    mine[i] = static_cast<float>(100 * comm->rank() + static_cast<int>(i));
  std::vector<float> all(length * static_cast<size_t>(comm->size()));
  comm->all_gather(mine, all);
  for (int r = 0; r < comm->size(); ++r) {
    for (size_t i = 0; i < length; ++i)
      EXPECT_EQ(all[static_cast<size_t>(r) * length + i], 100.0f * r + i);
  }
  std::vector<float> wrong(all.size() + 1);
  EXPECT_THROW(comm->all_gather(mine, wrong), CommError);
}

TEST(MpiCommunicator, BroadcastFromAnyRoot) {
  for (const int root : {0, comm->size() - 1}) {
    std::vector<std::byte> data(1000, std::byte{0});
    if (comm->rank() == root) {
      for (size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::byte>((i * 7 + root) & 0xFF);
    }
    comm->broadcast(data, root);
    for (size_t i = 0; i < data.size(); ++i)
      ASSERT_EQ(data[i], static_cast<std::byte>((i * 7 + root) & 0xFF));
  }
  std::vector<std::byte> data(4);
  EXPECT_THROW(comm->broadcast(data, comm->size()), CommError);
}

// Under tests/mpi/two_hosts_test.sh each rank runs in its own network namespace (a simulated
// host): the ranks must see distinct namespaces, so their traffic really crossed TCP.
TEST(MpiCommunicator, RanksLiveOnDistinctHostsWhenAskedTo) {
  if (std::getenv("MMD_TEST_DISTINCT_NETNS") == nullptr)
    GTEST_SKIP() << "not under two_hosts_test.sh";
  struct stat self {};
  ASSERT_EQ(::stat("/proc/self/ns/net", &self), 0);
  // The inode in 16-bit pieces: each is exact in a float (the whole number is not).
  const auto inode = static_cast<uint64_t>(self.st_ino);
  std::vector<float> mine;
  for (int shift = 0; shift < 64; shift += 16)
    mine.push_back(static_cast<float>((inode >> shift) & 0xFFFF));
  std::vector<float> all(mine.size() * static_cast<size_t>(comm->size()));
  comm->all_gather(mine, all);
  auto inode_of = [&](int r) {
    return std::vector<float>(all.begin() + static_cast<ptrdiff_t>(r * mine.size()),
                              all.begin() + static_cast<ptrdiff_t>((r + 1) * mine.size()));
  };
  for (int a = 0; a < comm->size(); ++a) {
    for (int b = a + 1; b < comm->size(); ++b)
      EXPECT_NE(inode_of(a), inode_of(b)) << "ranks " << a << " and " << b;
  }
}

TEST(SingleRankCommunicator, IsTheIdentity) {
  auto single = make_single_rank_communicator();
  std::vector<float> data = {1.5f, -2.0f};
  single->all_reduce_sum(data);
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f}));
  std::vector<float> all(2);
  single->all_gather(data, all);
  EXPECT_EQ(all, data);
  EXPECT_THROW(single->broadcast({}, 1), CommError);
}

}  // namespace
}  // namespace mm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = mm::MpiCommunicator::create();
  mm::comm = comm.get();
  return mm::testing::run_tests_on_every_rank(*comm);
}
