// tsn_dist: trains a TSN from a TOML config. One process per rank under mpirun (or srun);
// without a launcher it runs as a world of one.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "Job.h"
#include "common/Error.h"
#include "common/Logging.h"
#include "common/Main.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "data/FileList.h"
#include "dist/CommunicatorFactory.h"
#include "dist/ModelSync.h"
#include "dist/MpiWorld.h"
#include "model/Tsn.h"
#include "model/Weights.h"
#include "train/Checkpoint.h"
#include "train/MixedPrecision.h"
#include "train/StepRecorder.h"
#include "train/Trainer.h"

namespace {

/// --debug: one process, decoding in the training thread, a log line and a NaN/Inf check per
/// step. Given before the user's --set, which can still change any of it.
std::vector<std::string> debugOverrides() {
  return {"data.workers=0", "train.log_interval=1", "train.check_finite=true",
          "dist.backend=local"};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a Temporal Segment Network"};
  app.set_version_flag("--version", [] { return tsn::describeBuild("tsn_dist"); });
  std::string configPath;
  std::vector<std::string> overrides;
  bool debug = false;
  int64_t maxSteps = 0;
  app.add_option("-c,--config", configPath, "TOML config file")->required();
  app.add_option("--set", overrides, "override a key: section.key=value (repeatable)");
  app.add_flag("--debug", debug,
               "one process, decoding in the training thread, deterministic algorithms, a NaN/Inf "
               "check and a log line per step");
  app.add_option("--max-steps", maxSteps,
                 "stop after this many steps, with a checkpoint (train.max_steps)");
  std::string saveSteps;
  app.add_option("--save-steps", saveSteps,
                 "save the starting weights and every step's batch, LR and loss in this directory "
                 "(torch.save files, for replaying the steps elsewhere; with --max-steps)");
  std::string resume, finetune;
  app.add_option("--resume", resume,
                 "continue a run: 'auto' (the newest valid checkpoint in train.work_dir, or a "
                 "fresh start if there is none) or a checkpoint file");
  app.add_option("--finetune", finetune,
                 "start from a checkpoint's weights without its classifier (new classes), with a "
                 "fresh optimizer and schedule")
      ->excludes("--resume");
  CLI11_PARSE(app, argc, argv);

  tsn::Job job;
  const int code = tsn::runMain("tsn_dist", [&] {
    if (debug) {
      const char* ranks = std::getenv("OMPI_COMM_WORLD_SIZE");
      if (ranks != nullptr && std::string(ranks) != "1") {
        throw tsn::ConfigError("--debug runs one process: start it without mpirun");
      }
      const auto debugging = debugOverrides();
      overrides.insert(overrides.begin(), debugging.begin(), debugging.end());
      // cuBLAS is deterministic only with a fixed workspace, set before its first handle;
      // without it LibTorch refuses the first matrix product on a GPU in deterministic mode.
      setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
      at::globalContext().setDeterministicAlgorithms(true, false);
      at::globalContext().setBenchmarkCuDNN(false);
    }
    if (maxSteps > 0) overrides.push_back(fmt::format("train.max_steps={}", maxSteps));
    // Everything a user can get wrong is checked before any model or thread exists.
    const tsn::Config config = tsn::loadConfig(configPath, overrides);
    tsn::checkTrainingInputs(config);
    tsn::checkPrecision(config.train.precision,
                        torch::cuda::is_available() ? torch::kCUDA : torch::kCPU);
    const tsn::StateDict pretrained = config.model.pretrained.empty()
                                          ? tsn::StateDict{}
                                          : tsn::readStateDict(config.model.pretrained);
    const tsn::StateDict finetuneFrom =
        finetune.empty() ? tsn::StateDict{} : tsn::readStateDict(finetune);
    // The checkpoint to continue from, read and checked before any work.
    std::optional<std::pair<std::string, tsn::Checkpoint>> resumeFrom;
    std::vector<std::string> unreadable;
    try {
      if (resume == "auto") {
        if (auto found = tsn::CheckpointStore(config.train.workDir, config.checkpoint.keepLast)
                             .newestValid(&unreadable)) {
          resumeFrom.emplace(found->first.string(), std::move(found->second));
        }
      } else if (!resume.empty()) {
        resumeFrom.emplace(resume, tsn::readCheckpoint(resume));
      }
      if (resumeFrom) tsn::checkCheckpointFits(resumeFrom->second, config.model, resumeFrom->first);
    } catch (const tsn::CheckpointError& e) {
      throw tsn::ConfigError(fmt::format("--resume {}: {}", resume, e.what()));
    }
    job = tsn::Job::start(config, &argc, &argv, /*single=*/debug);
    auto* comm = job.comm.get();
    const auto& world = job.world;
    auto trainLoader =
        tsn::makeClipLoader(config, config.data.trainList, true, comm->rank(), comm->size());
    auto valLoader =
        tsn::makeClipLoader(config, config.data.valList, false, comm->rank(), comm->size());

    const std::filesystem::path workDir = config.train.workDir;
    std::filesystem::create_directories(workDir);
    job.initLogging(config, (workDir / "logs").string());
    auto log = tsn::logging::get("main");
    const std::string resolved = tsn::toToml(config);
    if (comm->rank() == 0) std::ofstream(workDir / "config.toml") << resolved;
    log->info("config {} resolved to:\n{}", configPath, resolved);
    if (world) {
      log->info("rank {} of {} on {} (local rank {} of {}), backend {}", world->rank(),
                world->size(), world->hostname(), world->localRank(), world->localSize(),
                comm->backendName());
    }

    for (const auto& why : unreadable) log->warn("--resume auto: skipping {}", why);
    if (resume == "auto" && !resumeFrom) {
      log->info("--resume auto: no checkpoint in {}; starting from scratch", config.train.workDir);
    }
    torch::manual_seed(static_cast<uint64_t>(config.train.seed));
    const torch::Device device = job.device;
    if (!debug) at::globalContext().setBenchmarkCuDNN(config.train.cudnnBenchmark);
    tsn::Tsn model(config.model);
    if (!config.model.pretrained.empty()) {
      const auto report = tsn::loadWeights(model, pretrained, config.model.pretrained);
      log->info("loaded {} tensors from {}; left at initial values: {}", report.loaded,
                config.model.pretrained, fmt::join(report.skipped, ", "));
    }
    if (!finetune.empty()) {
      const auto report = tsn::loadWeights(model, finetuneFrom, finetune, /*dropHead=*/true);
      log->info("--finetune: loaded {} tensors from {}; new classifier: {}", report.loaded,
                finetune, fmt::join(report.skipped, ", "));
    }
    // Every rank must run the same job from the same weights before step 1.
    tsn::checkFingerprint(
        {tsn::moduleHash(*model), tsn::configHash(config),
         tsn::fileListHash(trainLoader->dataset().samples()),
         tsn::fileListHash(valLoader->dataset().samples()), static_cast<uint64_t>(comm->size())},
        *comm);
    tsn::broadcastModule(*model, *comm);
    model->to(device);

    tsn::Trainer trainer(config, model, *trainLoader, *valLoader, *comm, device);
    if (resumeFrom) trainer.restore(resumeFrom->second, resumeFrom->first);
    std::optional<tsn::StepRecorder> recorder;
    if (!saveSteps.empty()) {
      recorder.emplace(saveSteps, comm->rank());
      if (comm->rank() == 0) recorder->saveInitial(model);
      trainer.setStepObserver([&](int64_t step, const tsn::Batch& batch, double lr, double loss) {
        recorder->saveStep(step, batch.clips, batch.labels, lr, loss);
      });
    }
    // After MPI started (it may install handlers of its own): SIGUSR1 / SIGTERM end training
    // at the next step with a checkpoint.
    trainer.setStopFlag(tsn::installStopSignals());
    const auto result = trainer.run();
    if (result.stopRequested) {
      log->warn("stopped on request; resume with --resume auto (exit code {})",
                static_cast<int>(tsn::kExitStopped));
      return tsn::kExitStopped;
    }
    const auto& v = result.lastValidation;
    log->info("done: {} steps; final validation top1 {:.4f} top5 {:.4f} on {} clips", result.steps,
              v.top1, v.top5, v.clips);
    if (comm->rank() == 0 && v.clips > 0) {
      std::cout << "final validation: top1 " << v.top1 << " top5 " << v.top5 << " (" << v.clips
                << " videos)" << std::endl;
    }
    return tsn::kExitOk;
  });
  // A rank that failed ends the whole job now, instead of leaving the others waiting in a
  // collective.
  return job.finish(code);
}
