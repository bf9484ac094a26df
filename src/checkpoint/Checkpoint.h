#pragma once
/// @file Checkpoints: what a run needs to continue exactly, written so that a crash at any
/// moment leaves the previous one loadable, and readable from Python with torch.load.
///
/// A checkpoint is one torch.save-compatible file holding a dict:
///   model        name -> tensor (backbone.* in torchvision names, head.fc.*)
///   optimizer    {"momentum": name -> tensor}
///   epoch, iter, step          epoch in progress (0-based), batches of it done, global step
///   lr           {"base": lr, "scale": linear scaling factor}
///   loss_scale   {"scale", "good_steps"} (fp16)
///   rng          {"cpu": uint8 [world_size, n]: each rank's CPU generator; "cuda": the same
///                for the GPU each rank used, on GPU runs}
///   rank_buffers name -> [world_size, ...]: each rank's own floating-point buffers (BatchNorm
///                running statistics; `model` holds their mean), on runs of more than one rank
///   config       the resolved TOML; config_hash, train_list_hash, val_list_hash (hex)
///   world_size, backbone, num_classes, metrics (JSON text: best top-1, last validation)
///   format = "tsn-dist checkpoint", version = 1

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Error.h"
#include "config/Config.h"
#include "model/Weights.h"

namespace tsn {

struct Checkpoint {
  StateDict model;
  StateDict momentum;  ///< by parameter name
  int64_t epoch = 0;
  int64_t iter = 0;
  int64_t step = 0;
  double baseLr = 0;
  double lrScale = 1;
  double lossScale = 1;
  int64_t lossScaleGoodSteps = 0;
  torch::Tensor rngCpu;   ///< uint8 [world_size, n]
  torch::Tensor rngCuda;  ///< uint8 [world_size, n]: each rank's CUDA generator; undefined on CPU
  StateDict rankBuffers;  ///< name -> [world_size, ...]; empty for one rank
  std::string config;
  std::string configHash, trainListHash, valListHash;
  int64_t worldSize = 1;
  std::string backbone;
  int64_t numClasses = 0;
  nlohmann::json metrics = nlohmann::json::object();
};

/// Writes `ckpt` to `file` atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. A reader sees the old file or the new one, never a part.
void writeCheckpoint(const Checkpoint& ckpt, const std::filesystem::path& file);

/// The bytes writeCheckpoint writes (a torch.save-compatible pickle archive).
std::string serializeCheckpoint(const Checkpoint& ckpt);

/// Throws CheckpointError naming `file` for anything that is not a whole checkpoint of ours
/// (missing, truncated, another format, missing fields).
Checkpoint readCheckpoint(const std::filesystem::path& file);

class CheckpointError : public Error {
 public:
  using Error::Error;
};

/// Throws CheckpointError unless `ckpt` holds a model `model` describes (backbone, class count;
/// the error suggests --finetune for another class count).
void checkCheckpointFits(const Checkpoint& ckpt, const ModelConfig& model,
                         const std::string& source);

/// Called after each durable step of a write ("temp-written", "synced", "renamed") and of a
/// CheckpointStore commit ("latest-written"): the crash-safety test ends the process there.
using WriteProgress = std::function<void(std::string_view point)>;

/// Writes `bytes` to `file` atomically (as writeCheckpoint).
void writeFileAtomically(const std::filesystem::path& file, const std::string& bytes,
                         const WriteProgress& progress = {});

/// The checkpoints of one work dir: `<dir>/checkpoints/e<epoch>_s<step>.pt`, `latest` (a text
/// file naming the newest) and `best.pt` (best validation top-1).
class CheckpointStore {
 public:
  CheckpointStore(std::filesystem::path workDir, int64_t keepLast, WriteProgress progress = {});

  /// Commits `ckpt` (and, if `best`, the same as best.pt), then points `latest` at it, then
  /// deletes the oldest beyond keep_last. Returns the new file.
  std::filesystem::path commit(const Checkpoint& ckpt, bool best);

  /// Checkpoint files, newest (highest step) first.
  std::vector<std::filesystem::path> list() const;

  /// The newest checkpoint that reads whole; each unreadable newer one is added to `skipped`
  /// with why. nullopt when there is none.
  std::optional<std::pair<std::filesystem::path, Checkpoint>> newestValid(
      std::vector<std::string>* skipped) const;

  std::filesystem::path dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  int64_t keepLast_;
  WriteProgress progress_;
};

}  // namespace tsn
