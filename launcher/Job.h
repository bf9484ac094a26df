#pragma once
/// @file What every job binary (tsn_dist, tsn_eval, tsn_infer) sets up the same way: the MPI
/// world when a launcher started the process, the communicator, console logging, the device;
/// and the end of the process. The work itself lives in src/.

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "distributed/Communicator.h"
#include "distributed/MpiWorld.h"

namespace tsn {

struct Job {
  std::unique_ptr<MpiWorld> world;  ///< null when no launcher started this process
  std::unique_ptr<Communicator> comm;
  torch::Device device = torch::kCPU;

  /// Joins the MPI world if mpirun / srun started this process (unless `single`), makes the
  /// communicator for dist.backend and picks the device of the local rank.
  static Job start(const Config& config, int* argc, char*** argv, bool single = false);

  /// Logging with this rank's tag and config.log's level and console choice; one file per
  /// rank under `logDir` when given (and config.log.rank_files is on).
  void initLogging(const Config& config, const std::string& logDir = "") const;

  /// A training run's logs: train.work_dir created, logging with a file per rank in its logs/,
  /// the resolved config written to config.toml (rank 0) and logged, and where this rank runs.
  void startRunLog(const Config& config, const std::string& configPath) const;

  /// A failed rank of several ends the whole job (MPI_Abort) instead of leaving the others
  /// waiting in a collective. Otherwise (also kExitStopped: every rank stops together, in
  /// order) closes the communicator and the MPI world and returns leaveProcess(code).
  int finish(int code);
};

/// What tsn_eval and tsn_infer are given alike: the config the model was trained with (with
/// --set overrides) and the checkpoint.
struct ScoringOptions {
  std::string config, checkpoint;
  std::vector<std::string> overrides;
  void addTo(CLI::App& app);
};

/// `program`'s --version line: tsn-dist's version, the LibTorch it runs on, whether the build
/// has CUDA and NCCL (with NCCL's version), and how many GPUs LibTorch sees.
std::string describeBuild(const std::string& program);

}  // namespace tsn
