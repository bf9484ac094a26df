#include "distributed/MpiWorld.h"

#include <unistd.h>

#include <mpi.h>

#include <cstdlib>
#include <filesystem>

#include "common/Logging.h"
#include "distributed/MpiError.h"

namespace tsn {

namespace mpi {
void throwMpiError(const char* expr, int code, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  const std::string message = fmt::format("MPI: {} failed: {}", detail::calledFunction(expr), text);
  detail::logFailureSite(file, line, expr, message);
  throw Error(message);
}
}  // namespace mpi

bool launchedByMpi() {
  // Open MPI's mpirun, and PMIx/PMI launchers such as srun --mpi=pmix.
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(variable) != nullptr) return true;
  }
  return false;
}

int gpuOfLocalRank(int localRank, int gpus) {
  if (localRank >= gpus) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    throw Error(
        fmt::format("{} has {} GPUs but runs at least {} ranks: start one rank per GPU "
                    "(launcher/tsn_mpirun --gpus-per-node {})",
                    host, gpus, localRank + 1, gpus));
  }
  return localRank;
}

MpiWorld::MpiWorld(int* argc, char*** argv) {
  int provided = 0;
  TSN_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  TSN_CHECK(provided >= MPI_THREAD_FUNNELED,
            "MPI provides thread level {}, tsn-dist needs FUNNELED", provided);
  // Errors come back as codes (and become exceptions) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  TSN_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  TSN_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm node = MPI_COMM_NULL;
  TSN_CHECK_MPI(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  TSN_CHECK_MPI(MPI_Comm_rank(node, &localRank_));
  TSN_CHECK_MPI(MPI_Comm_size(node, &localSize_));
  MPI_Comm_free(&node);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  hostname_ = name;
}

MpiWorld::~MpiWorld() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiWorld::abort(int exitCode) {
  logging::flush();
  MPI_Abort(MPI_COMM_WORLD, exitCode);
  std::_Exit(exitCode);  // MPI_Abort does not return; be sure
}

}  // namespace tsn
