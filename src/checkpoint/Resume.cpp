#include "checkpoint/Resume.h"

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

Tsn loadCheckpointModel(const Config& config, const std::string& path,
                        const torch::Device& device) {
  Checkpoint ckpt;
  try {
    ckpt = readCheckpoint(path);
    checkCheckpointFits(ckpt, config.model, path);
  } catch (const CheckpointError& e) {
    throw ConfigError(fmt::format("--checkpoint: {}", e.what()));
  }
  Tsn model(config.model);
  loadWeights(model, ckpt.model, path);
  model->to(device);
  if (config.train.channelsLast) model->useChannelsLast();
  model->eval();
  return model;
}

}  // namespace tsn
