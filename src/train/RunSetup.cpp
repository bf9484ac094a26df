#include "train/RunSetup.h"

#include <cstdlib>

#include "common/Error.h"
#include "common/Logging.h"
#include "common/Random.h"
#include "distributed/ModelSync.h"
#include "distributed/MpiWorld.h"

namespace tsn {

std::vector<std::string> applyDebugPolicy() {
  if (launchedByMpi()) {
    throw ConfigError("--debug runs one process: start it without mpirun or srun");
  }
  // cuBLAS is deterministic only with a fixed workspace, set before its first handle; without
  // it LibTorch refuses the first matrix product on a GPU in deterministic mode.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicAlgorithms(true, false);
  return {"data.workers=0", "train.log_interval=1", "train.check_finite=true",
          "dist.backend=local"};
}

Tsn buildModel(const Config& config, const RunStart& start, Communicator& comm,
               const ClipLoader& trainLoader, const ClipLoader& valLoader, torch::Device device) {
  auto log = logging::get("main");
  for (const auto& why : start.skipped) log->warn("--resume auto: skipping {}", why);
  if (start.options.resume == "auto" && !start.resume) {
    log->info("--resume auto: no checkpoint in {}; starting from scratch", config.train.workDir);
  }
  torch::manual_seed(static_cast<uint64_t>(config.train.seed));
  Tsn model(config.model);
  if (!config.model.pretrained.empty()) {
    const auto report = loadWeights(model, start.pretrained, config.model.pretrained);
    log->info("loaded {} tensors from {}; left at initial values: {}", report.loaded,
              config.model.pretrained, fmt::join(report.skipped, ", "));
  }
  if (!start.options.finetune.empty()) {
    const auto report =
        loadWeights(model, start.finetune, start.options.finetune, /*dropHead=*/true);
    log->info("--finetune: loaded {} tensors from {}; new classifier: {}", report.loaded,
              start.options.finetune, fmt::join(report.skipped, ", "));
  }
  // Every rank must run the same job from the same weights before step 1.
  checkFingerprint(
      {moduleHash(*model), configHash(config), fileListHash(trainLoader.dataset().samples()),
       fileListHash(valLoader.dataset().samples()), static_cast<uint64_t>(comm.size())},
      comm);
  broadcastModule(*model, comm);
  model->to(device);
  // The weights were drawn from train.seed, the same on every rank; what follows (dropout) is
  // each rank's own.
  seedRankStreams(config.train.seed, comm.rank(), /*step=*/0);
  return model;
}

void seedRankStreams(int64_t runSeed, int rank, int64_t step) {
  torch::manual_seed(deriveSeed(static_cast<uint64_t>(runSeed), rank, step));
}

}  // namespace tsn
