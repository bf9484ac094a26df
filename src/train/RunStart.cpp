#include "train/RunStart.h"

#include "common/Logging.h"
#include "dist/ModelSync.h"

namespace tsn {

RunStart readRunStart(const Config& config, const StartOptions& options) {
  RunStart start;
  start.options = options;
  if (!config.model.pretrained.empty()) start.pretrained = readStateDict(config.model.pretrained);
  if (!options.finetune.empty()) start.finetune = readStateDict(options.finetune);
  try {
    if (options.resume == "auto") {
      const CheckpointStore store(config.train.workDir, config.checkpoint.keepLast);
      if (auto found = store.newestValid(&start.skipped)) {
        start.resume.emplace(found->first.string(), std::move(found->second));
      }
    } else if (!options.resume.empty()) {
      start.resume.emplace(options.resume, readCheckpoint(options.resume));
    }
    if (start.resume) checkCheckpointFits(start.resume->second, config.model, start.resume->first);
  } catch (const CheckpointError& e) {
    throw ConfigError(fmt::format("--resume {}: {}", options.resume, e.what()));
  }
  return start;
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
  return model;
}

}  // namespace tsn
