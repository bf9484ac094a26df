// main() of the multi-rank suites: MPI starts before the tests; only rank 0 prints; the exit
// code is non-zero if a test failed on any rank.
#include <gtest/gtest.h>
#include <mpi.h>

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
  return anyFailed;
}
