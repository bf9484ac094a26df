#include "distributed/CommunicatorFactory.h"

#include <torch/cuda.h>

#include "common/Error.h"
#include "common/Logging.h"
#include "distributed/MpiCommunicator.h"
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // Open MPI's extensions: MPIX_Query_cuda_support
#endif
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

bool mpiIsCudaAware() {
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  return MPIX_Query_cuda_support() == 1;
#else
  return false;
#endif
}

std::string checkMpiCarriesTheModel(DistBackend configured, bool modelOnGpu, bool cudaAwareMpi) {
  if (!modelOnGpu) return "";
  if (cudaAwareMpi) {
    return "dist.backend: MPI is CUDA-aware here: it reduces the gradients in GPU memory";
  }
  if (configured == DistBackend::Auto) {
    throw ConfigError(
        "dist.backend: auto resolves to mpi in this build (no NCCL: built without "
        "-DTSN_WITH_CUDA=ON), but the model is on a GPU and this MPI library cannot read GPU "
        "memory (not CUDA-aware); rebuild with -DTSN_WITH_CUDA=ON for nccl, or hide the GPUs "
        "(CUDA_VISIBLE_DEVICES=) to train on the CPU");
  }
  throw ConfigError(
      "dist.backend: mpi with the model on a GPU, but this MPI library cannot read GPU memory "
      "(not CUDA-aware: it would crash at the first backward); use dist.backend = nccl (or auto) "
      "in a build with -DTSN_WITH_CUDA=ON, or hide the GPUs (CUDA_VISIBLE_DEVICES=) to train on "
      "the CPU");
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
  // The device is the GPU whenever LibTorch sees one (pickDevice).
  const auto note =
      checkMpiCarriesTheModel(dist.backend, torch::cuda::is_available(), mpiIsCudaAware());
  if (!note.empty()) logging::get("dist")->info("{}", note);
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
