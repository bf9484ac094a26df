#pragma once
/// @file Choosing the communicator for dist.backend, and the device of this rank.

#include <memory>

#include "config/Config.h"
#include "distributed/Communicator.h"
#include "distributed/MpiWorld.h"

namespace tsn {

/// `world` is null for a process no launcher started: a world of one. auto picks NCCL for a
/// world of several ranks when this build has CUDA (TSN_WITH_CUDA) and LibTorch sees a GPU,
/// MPI otherwise. Throws ConfigError for a backend this build or world cannot provide (local
/// with several ranks; nccl without TSN_WITH_CUDA or without a GPU).
std::unique_ptr<Communicator> makeCommunicator(const DistConfig& dist, const MpiWorld* world);

/// True when this build has the NCCL backend and LibTorch sees a GPU.
bool ncclUsable();

/// True when the MPI library can read CUDA device memory (Open MPI's MPIX_Query_cuda_support).
bool mpiIsCudaAware();

/// MPI collectives over the gradients of a model on a GPU: a ConfigError saying which backend to
/// use unless `cudaAwareMpi` (MPI would be handed device memory and crash at the first
/// backward); `configured` is dist.backend as written (mpi, or auto that this build resolves to
/// MPI). Returns the line to log when MPI carries device memory, else an empty string.
std::string checkMpiCarriesTheModel(DistBackend configured, bool modelOnGpu, bool cudaAwareMpi);

/// The GPU of this rank's local rank, or the CPU when LibTorch sees none. Error if a node runs
/// more ranks than it has GPUs.
torch::Device pickDevice(const Communicator& comm);

}  // namespace tsn
