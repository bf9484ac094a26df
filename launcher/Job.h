#pragma once
/// @file What every job binary (tsn_dist, tsn_eval, tsn_infer) sets up the same way: the MPI
/// world when a launcher started the process, the communicator, console logging, the device,
/// and a model from a checkpoint.

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "data/ClipLoader.h"
#include "dist/Communicator.h"
#include "dist/MpiWorld.h"
#include "model/Tsn.h"
#include "train/Evaluator.h"

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

/// Every video's scores from the model of `options.checkpoint`, sharded over the job's ranks
/// and gathered on every rank; the loader too (--save-inputs reads it again).
struct ScoredVideos {
  VideoScores scores;
  std::shared_ptr<ClipLoader> loader;
};
ScoredVideos scoreCheckpoint(const Job& job, const Config& config, const std::string& checkpoint,
                             std::vector<VideoSample> samples, const std::string& listName);

/// `program`'s --version line: tsn-dist's version, the LibTorch it runs on, whether the build
/// has CUDA and NCCL (with NCCL's version), and how many GPUs LibTorch sees.
std::string describeBuild(const std::string& program);

/// The GPU of this rank's local rank, or the CPU when LibTorch sees none. Error if a node runs
/// more ranks than it has GPUs.
torch::Device pickDevice(const Communicator& comm);

/// The model of a tsn-dist checkpoint, on `device`, in eval mode. ConfigError (one line, naming
/// the file) for a checkpoint that is unreadable or of another model than `config` describes.
Tsn loadCheckpointModel(const Config& config, const std::string& path, const torch::Device& device);

}  // namespace tsn
