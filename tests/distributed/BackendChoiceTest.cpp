// dist.backend against where the model lives: MPI collectives are refused for a model on a GPU
// unless the MPI library reads GPU memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/Error.h"
#include "distributed/CommunicatorFactory.h"
#include "distributed/MpiTestWorld.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

std::string refusal(DistBackend configured) {
  try {
    checkMpiCarriesTheModel(configured, /*modelOnGpu=*/true, /*cudaAwareMpi=*/false);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(BackendChoice, MpiForAGpuModelIsRefusedSayingWhichBackendToUse) {
  EXPECT_THAT(refusal(DistBackend::Mpi), HasSubstr("dist.backend: mpi with the model on a GPU"));
  EXPECT_THAT(refusal(DistBackend::Mpi), HasSubstr("use dist.backend = nccl"));
  // auto resolves to MPI only in a build without NCCL.
  EXPECT_THAT(refusal(DistBackend::Auto), HasSubstr("rebuild with -DTSN_WITH_CUDA=ON for nccl"));
}

TEST(BackendChoice, MpiCarriesACpuModelOrAGpuModelWhenCudaAware) {
  EXPECT_EQ(checkMpiCarriesTheModel(DistBackend::Mpi, /*modelOnGpu=*/false, false), "");
  EXPECT_THAT(checkMpiCarriesTheModel(DistBackend::Mpi, /*modelOnGpu=*/true, true),
              HasSubstr("CUDA-aware"));
}

TEST(BackendChoice, OnTheCpuMpiIsTheCommunicatorOfSeveralRanks) {
  DistConfig dist;
  dist.backend = DistBackend::Mpi;
  const auto comm = makeCommunicator(dist, testing::gWorld);
  EXPECT_EQ(comm->size(), testing::gWorld->size());
  EXPECT_EQ(comm->backendName(), "mpi");
}

}  // namespace
}  // namespace tsn
