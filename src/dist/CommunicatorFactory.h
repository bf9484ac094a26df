#pragma once
/// @file Choosing the communicator for dist.backend.

#include <memory>

#include "config/Config.h"
#include "dist/Communicator.h"
#include "dist/MpiWorld.h"

namespace tsn {

/// `world` is null for a process no launcher started: a world of one. auto picks MPI for a
/// world of several CPU ranks. Throws ConfigError for a backend this build or world cannot
/// provide (local with several ranks; nccl until its communicator lands).
std::unique_ptr<Communicator> makeCommunicator(const DistConfig& dist, const MpiWorld* world);

}  // namespace tsn
