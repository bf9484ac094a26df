#include "distributed/MpiWorld.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <thread>
#include <vector>

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
  // MULTIPLE lets a progress thread move collectives along (MpiProgress); with less the
  // training thread alone calls MPI (FUNNELED at the least).
  int provided = 0;
  mca_ = applyOpenMpiDefaults();  // read by Open MPI in MPI_Init
  TSN_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
  readMcaInForce(mca_);
  TSN_CHECK(provided >= MPI_THREAD_FUNNELED,
            "MPI provides thread level {}, tsn-dist needs FUNNELED", provided);
  threadMultiple_ = provided >= MPI_THREAD_MULTIPLE;
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
  std::vector<char> all(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME);
  TSN_CHECK_MPI(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(),
                              MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD));
  for (int r = 0; r < size_; ++r) hosts_.emplace_back(&all[r * MPI_MAX_PROCESSOR_NAME]);
}

MpiWorld::~MpiWorld() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

namespace {

/// Whether `pid` runs Open MPI's daemon (reads /proc/PID/comm with plain system calls: this
/// also runs in a forked child of a threaded process).
bool isOpenMpiDaemon(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/comm", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  char name[16] = {};
  const ssize_t n = read(fd, name, sizeof(name) - 1);
  close(fd);
  return n >= 5 && std::string_view(name, 5) == "orted" && (n == 5 || name[5] == '\n');
}

/// A job that was aborted is over everywhere. Where this rank's parent is Open MPI's daemon
/// (orted) and it is still there `afterS` seconds later, it could not reach mpirun (this node
/// is cut off) and would wait on TCP retransmissions for ~15 minutes, holding the node: a
/// detached guard process ends it then. The daemon itself may end this rank before that (it
/// does on an abort it cannot pass on), hence a process of its own. Under srun the parent is
/// slurmstepd, and Slurm ends the step: nothing is done.
void guardAgainstStrandedDaemon(int afterS) {
  const pid_t daemon = getppid();
  if (!isOpenMpiDaemon(daemon)) return;
  const pid_t child = fork();
  if (child == 0) {
    setsid();
    if (fork() == 0) {
      for (int fd = 0; fd < 4096; ++fd) close(fd);  // hold none of the rank's pipes or sockets
      sleep(static_cast<unsigned>(afterS));
      if (isOpenMpiDaemon(daemon)) kill(daemon, SIGKILL);
    }
    _exit(0);
  }
  if (child > 0) waitpid(child, nullptr, 0);
}

}  // namespace

void MpiWorld::abort(int exitCode) {
  logging::flush();
  // MPI_Abort asks mpirun to end the job; where mpirun cannot be reached (this node cut off
  // from the others) it may never return: the process ends by itself a few seconds later.
  guardAgainstStrandedDaemon(2 * kAbortGraceS);
  std::thread([exitCode] {
    std::this_thread::sleep_for(std::chrono::seconds(kAbortGraceS));
    std::_Exit(exitCode);
  }).detach();
  MPI_Abort(MPI_COMM_WORLD, exitCode);
  std::_Exit(exitCode);  // MPI_Abort does not return; be sure
}

}  // namespace tsn
