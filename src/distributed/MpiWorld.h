#pragma once
/// @file The MPI world of this process: started once, finalised at exit, aborted on failure.

#include <string>
#include <vector>

#include "distributed/OpenMpiSettings.h"

namespace tsn {

/// True when a launcher (mpirun, srun --mpi=pmix) started this process as part of a world.
bool launchedByMpi();

/// The GPU a rank uses: the one numbered by its rank on the node. Error naming the node when it
/// runs more ranks than it has `gpus`.
int gpuOfLocalRank(int localRank, int gpus);

class MpiWorld {
 public:
  /// MPI_Init_thread at MPI_THREAD_MULTIPLE (a progress thread may call MPI beside the training
  /// thread; FUNNELED where MPI offers no more); learns world rank and size, and the rank on this
  /// node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)).
  MpiWorld(int* argc, char*** argv);
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int localRank() const { return localRank_; }
  int localSize() const { return localSize_; }
  std::string hostname() const { return hosts_[rank_]; }
  /// Every rank's host name, by rank (gathered once at start).
  const std::vector<std::string>& hosts() const { return hosts_; }
  /// MPI allows calls from several threads at once (MPI_THREAD_MULTIPLE).
  bool threadMultiple() const { return threadMultiple_; }
  /// tsn-dist's Open MPI settings (OpenMpiSettings.h): each as asked for, where it came from and
  /// what Open MPI has in force.
  const std::vector<McaSetting>& mcaSettings() const { return mca_; }

  /// Ends every rank of the job now (MPI_Abort): what a failing rank does so that the others
  /// do not wait for it forever. Returns never: a process whose MPI_Abort cannot reach mpirun
  /// (a node cut off) ends by itself kAbortGraceS seconds later; its node's Open MPI daemon
  /// (orted), which cannot reach mpirun either, is ended 2 * kAbortGraceS seconds later.
  [[noreturn]] static void abort(int exitCode);
  static constexpr int kAbortGraceS = 5;

 private:
  int rank_ = 0;
  int size_ = 1;
  int localRank_ = 0;
  int localSize_ = 1;
  std::vector<std::string> hosts_;
  bool threadMultiple_ = false;
  std::vector<McaSetting> mca_;
};

}  // namespace tsn
