#pragma once
/// @file The MPI world of this process: started once, finalised at exit, aborted on failure.

#include <string>

namespace tsn {

/// True when a launcher (mpirun, srun --mpi=pmix) started this process as part of a world.
bool launchedByMpi();

/// The GPU a rank uses: the one numbered by its rank on the node. Error naming the node when it
/// runs more ranks than it has `gpus`.
int gpuOfLocalRank(int localRank, int gpus);

class MpiWorld {
 public:
  /// MPI_Init_thread at MPI_THREAD_FUNNELED (only the training thread calls MPI); learns world
  /// rank and size, and the rank on this node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)).
  MpiWorld(int* argc, char*** argv);
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int localRank() const { return localRank_; }
  int localSize() const { return localSize_; }
  std::string hostname() const { return hostname_; }

  /// Ends every rank of the job now (MPI_Abort): what a failing rank does so that the others
  /// do not wait for it forever.
  [[noreturn]] static void abort(int exitCode);

 private:
  int rank_ = 0;
  int size_ = 1;
  int localRank_ = 0;
  int localSize_ = 1;
  std::string hostname_;
};

}  // namespace tsn
