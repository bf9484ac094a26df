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
#include "dist/MpiWorld.h"
#include "train/MixedPrecision.h"
#include "train/RunStart.h"
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
  tsn::StartOptions startOptions;
  app.add_option("--resume", startOptions.resume,
                 "continue a run: 'auto' (the newest valid checkpoint in train.work_dir, or a "
                 "fresh start if there is none) or a checkpoint file");
  app.add_option("--finetune", startOptions.finetune,
                 "start from a checkpoint's weights without its classifier (new classes), with a "
                 "fresh optimizer and schedule")
      ->excludes("--resume");
  CLI11_PARSE(app, argc, argv);

  tsn::Job job;
  const int code = tsn::runMain("tsn_dist", [&] {
    if (debug) {
      if (tsn::launchedByMpi()) {
        throw tsn::ConfigError("--debug runs one process: start it without mpirun or srun");
      }
      const auto debugging = debugOverrides();
      overrides.insert(overrides.begin(), debugging.begin(), debugging.end());
      // cuBLAS is deterministic only with a fixed workspace, set before its first handle;
      // without it LibTorch refuses the first matrix product on a GPU in deterministic mode.
      setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
      at::globalContext().setDeterministicAlgorithms(true, false);
    }
    if (maxSteps > 0) overrides.push_back(fmt::format("train.max_steps={}", maxSteps));
    // Everything a user can get wrong is checked before any model or thread exists.
    const tsn::Config config = tsn::loadConfig(configPath, overrides);
    tsn::checkTrainingInputs(config);
    tsn::checkPrecision(config.train.precision,
                        torch::cuda::is_available() ? torch::kCUDA : torch::kCPU);
    const tsn::RunStart start = tsn::readRunStart(config, startOptions);

    job = tsn::Job::start(config, &argc, &argv, /*single=*/debug);
    auto& comm = *job.comm;
    auto trainLoader =
        tsn::makeClipLoader(config, config.data.trainList, true, comm.rank(), comm.size());
    auto valLoader =
        tsn::makeClipLoader(config, config.data.valList, false, comm.rank(), comm.size());
    job.startRunLog(config, configPath);
    at::globalContext().setBenchmarkCuDNN(config.train.cudnnBenchmark && !debug);
    auto model = tsn::buildModel(config, start, comm, *trainLoader, *valLoader, job.device);

    tsn::Trainer trainer(config, model, *trainLoader, *valLoader, comm, job.device);
    if (start.resume) trainer.restore(start.resume->second, start.resume->first);
    std::optional<tsn::StepRecorder> recorder;
    if (!saveSteps.empty()) recorder.emplace(saveSteps, comm.rank()).attach(trainer, model);
    // After MPI started (it may install handlers of its own): SIGUSR1 / SIGTERM end training
    // at the next step with a checkpoint.
    trainer.setStopFlag(tsn::installStopSignals());
    const auto result = trainer.run();
    if (result.stopRequested) return tsn::kExitStopped;
    if (comm.rank() == 0 && result.lastValidation.clips > 0) {
      const auto& v = result.lastValidation;
      std::cout << "final validation: top1 " << v.top1 << " top5 " << v.top5 << " (" << v.clips
                << " videos)" << std::endl;
    }
    return tsn::kExitOk;
  });
  // A rank that failed ends the whole job now, instead of leaving the others waiting in a
  // collective.
  return job.finish(code);
}
