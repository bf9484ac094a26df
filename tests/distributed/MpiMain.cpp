// main() of the multi-rank suites: MPI starts before the tests; only rank 0 prints; the exit
// code is non-zero if a test failed on any rank. Where no test ran but some skipped, and none
// failed on any rank, rank 0 says so in the line CTest reports Skipped by (TsnHelpers.cmake):
// gtest's own "[  PASSED  ] 0 tests" is printed as well when every test failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "distributed/MpiTestWorld.h"

namespace tsn::testing {
MpiWorld* gWorld = nullptr;
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  tsn::MpiWorld world(&argc, &argv);
  tsn::testing::gWorld = &world;
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int anyFailed = failed;
  MPI_Allreduce(&failed, &anyFailed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  const auto& run = *::testing::UnitTest::GetInstance();
  if (world.rank() == 0 && anyFailed == 0 && run.successful_test_count() == 0 &&
      run.skipped_test_count() > 0) {
    std::printf("[tsn] every test skipped\n");
  }
  return anyFailed;
}
