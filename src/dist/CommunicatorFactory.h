#pragma once
/// @file Choosing the communicator for dist.backend.

#include <memory>

#include "config/Config.h"
#include "dist/Communicator.h"
#include "dist/MpiWorld.h"

namespace tsn {

/// `world` is null for a process no launcher started: a world of one. auto picks NCCL for a
/// world of several ranks when this build has CUDA (TSN_WITH_CUDA) and LibTorch sees a GPU,
/// MPI otherwise. Throws ConfigError for a backend this build or world cannot provide (local
/// with several ranks; nccl without TSN_WITH_CUDA or without a GPU).
std::unique_ptr<Communicator> makeCommunicator(const DistConfig& dist, const MpiWorld* world);

/// True when this build has the NCCL backend and LibTorch sees a GPU.
bool ncclUsable();

}  // namespace tsn
