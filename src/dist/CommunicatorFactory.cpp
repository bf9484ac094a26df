#include "dist/CommunicatorFactory.h"

#include "common/Error.h"
#include "dist/MpiCommunicator.h"

namespace tsn {

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
      throw ConfigError("dist.backend: nccl is not available in this build yet; use auto or mpi");
    case DistBackend::Mpi:
    case DistBackend::Auto:
      if (world == nullptr) return std::make_unique<LocalCommunicator>();
      return std::make_unique<MpiCommunicator>(*world, dist.timeoutS);
  }
  throw Error("unknown dist.backend");
}

}  // namespace tsn
