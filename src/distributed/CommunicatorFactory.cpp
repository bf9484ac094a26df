#include "distributed/CommunicatorFactory.h"

#include <torch/cuda.h>

#include "common/Error.h"
#include "distributed/MpiCommunicator.h"
#ifdef TSN_WITH_CUDA
#include "distributed/NcclCommunicator.h"
#endif

namespace tsn {

bool ncclUsable() {
#ifdef TSN_WITH_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

namespace {

std::unique_ptr<Communicator> makeNccl([[maybe_unused]] const DistConfig& dist,
                                       [[maybe_unused]] const MpiWorld& world) {
#ifdef TSN_WITH_CUDA
  return std::make_unique<NcclCommunicator>(world, dist.timeoutS);
#else
  throw Error("unreachable: nccl without TSN_WITH_CUDA");
#endif
}

std::unique_ptr<Communicator> makeMpi(const DistConfig& dist, const MpiWorld& world) {
  return std::make_unique<MpiCommunicator>(world, dist.timeoutS,
                                           std::chrono::microseconds(dist.mpiProgressUs));
}

}  // namespace

std::unique_ptr<Communicator> makeCommunicator(const DistConfig& dist, const MpiWorld* world) {
  const int size = world ? world->size() : 1;
  switch (dist.backend) {
    case DistBackend::Local:
      if (size > 1) {
        throw ConfigError(
            fmt::format("dist.backend: local runs one process, but {} ranks started", size));
      }
      return std::make_unique<LocalCommunicator>();
    case DistBackend::Nccl:
#ifndef TSN_WITH_CUDA
      throw ConfigError(
          "dist.backend: nccl needs a build with CUDA (cmake -DTSN_WITH_CUDA=ON against a CUDA "
          "LibTorch); use auto or mpi");
#endif
      if (!ncclUsable()) {
        throw ConfigError(
            "dist.backend: nccl needs a GPU, and LibTorch sees none; use auto or mpi");
      }
      if (world == nullptr) return std::make_unique<LocalCommunicator>();
      return makeNccl(dist, *world);
    case DistBackend::Auto:
      if (world == nullptr) return std::make_unique<LocalCommunicator>();
      return ncclUsable() ? makeNccl(dist, *world) : makeMpi(dist, *world);
    case DistBackend::Mpi:
      if (world == nullptr) return std::make_unique<LocalCommunicator>();
      return makeMpi(dist, *world);
  }
  throw Error("unknown dist.backend");
}

torch::Device pickDevice(const Communicator& comm) {
  if (!torch::cuda::is_available()) return torch::kCPU;
  const int gpu = gpuOfLocalRank(comm.localRank(), static_cast<int>(torch::cuda::device_count()));
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(gpu)};
}

}  // namespace tsn
