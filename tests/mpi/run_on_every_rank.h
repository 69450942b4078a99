// The end of main() for a GoogleTest binary started by mpirun: every rank runs the tests, only
// rank 0 prints progress, and every rank exits 1 when any rank failed (so mpirun fails too).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "kernels/comm/communicator.h"

namespace mm::testing {

inline int run_tests_on_every_rank(Communicator& comm) {
  if (comm.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  std::vector<float> failures = {static_cast<float>(failed != 0)};
  comm.all_reduce_sum(failures);
  if (comm.rank() == 0 && failures[0] > 0)
    std::fprintf(stderr, "%g of %d ranks failed\n", failures[0], comm.size());
  return failures[0] > 0 ? 1 : 0;
}

}  // namespace mm::testing
