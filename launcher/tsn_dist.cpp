// tsn_dist: trains a TSN from a TOML config. One process per rank under mpirun (or srun);
// without a launcher it runs as a world of one.
#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>

#include "checkpoint/Resume.h"
#include "common/Error.h"
#include "common/Main.h"
#include "config/Config.h"
#include "config/ConfigSchema.h"
#include "data/ClipLoader.h"
#include "launcher/Job.h"
#include "model/Precision.h"
#include "observe/StepRecorder.h"
#include "train/RunSetup.h"
#include "train/Trainer.h"

namespace {

struct Options {
  std::string config;
  std::vector<std::string> overrides;
  bool debug = false;
  int64_t maxSteps = 0;
  std::string saveSteps;
  tsn::StartOptions start;

  void addTo(CLI::App& app) {
    app.add_option("-c,--config", config, "TOML config file")->required();
    app.add_option("--set", overrides, "override a key: section.key=value (repeatable)");
    app.add_flag("--debug", debug,
                 "one process, decoding in the training thread, deterministic algorithms, a "
                 "NaN/Inf check and a log line per step");
    app.add_option("--max-steps", maxSteps,
                   "stop after this many steps, with a checkpoint (train.max_steps)");
    app.add_option("--save-steps", saveSteps,
                   "save the starting weights and every step's batch, LR and loss in this "
                   "directory (torch.save files, for replaying the steps elsewhere)");
    app.add_option("--resume", start.resume,
                   "continue a run: 'auto' (the newest valid checkpoint in train.work_dir, or a "
                   "fresh start if there is none) or a checkpoint file");
    app.add_option("--finetune", start.finetune,
                   "start from a checkpoint's weights without its classifier (new classes), with "
                   "a fresh optimizer and schedule")
        ->excludes("--resume");
  }
};

int train(Options& o, int* argc, char*** argv, tsn::Job& job) {
  if (o.debug) {
    const auto debugging = tsn::applyDebugPolicy();
    o.overrides.insert(o.overrides.begin(), debugging.begin(), debugging.end());
  }
  if (o.maxSteps > 0) o.overrides.push_back(fmt::format("train.max_steps={}", o.maxSteps));
  // Everything a user can get wrong is checked before any model or thread exists.
  const tsn::Config config = tsn::loadConfig(o.config, o.overrides);
  tsn::checkTrainingInputs(config);
  tsn::checkPrecision(config.train.precision,
                      torch::cuda::is_available() ? torch::kCUDA : torch::kCPU);
  const tsn::RunStart start = tsn::readRunStart(config, o.start);

  job = tsn::Job::start(config, argc, argv, /*single=*/o.debug);
  // As soon as MPI started (it may install handlers of its own): SIGUSR1 / SIGTERM end training
  // at the next step with a checkpoint; one during the setup below stops at the first step.
  const std::atomic<int>* stopFlag = tsn::installStopSignals();
  auto& comm = *job.comm;
  auto trainLoader =
      tsn::makeClipLoader(config, config.data.trainList, true, comm.rank(), comm.size());
  auto valLoader =
      tsn::makeClipLoader(config, config.data.valList, false, comm.rank(), comm.size());
  job.startRunLog(config, o.config);
  at::globalContext().setBenchmarkCuDNN(config.train.cudnnBenchmark && !o.debug);
  auto model = tsn::buildModel(config, start, comm, *trainLoader, *valLoader, job.device);

  tsn::Trainer trainer(config, model, *trainLoader, *valLoader, comm, job.device);
  if (start.resume) trainer.restore(start.resume->second, start.resume->first);
  std::optional<tsn::StepRecorder> recorder;
  if (!o.saveSteps.empty()) {
    recorder.emplace(o.saveSteps, comm.rank()).saveInitial(model);
    trainer.addObserver(*recorder);
  }
  trainer.setStopFlag(stopFlag);
  const auto result = trainer.run();
  if (result.stopRequested) return tsn::kExitStopped;
  if (comm.rank() == 0 && result.lastValidation.clips > 0) {
    const auto& v = result.lastValidation;
    std::cout << "final validation: top1 " << v.top1 << " top5 " << v.top5 << " (" << v.clips
              << " videos)" << std::endl;
  }
  return tsn::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a Temporal Segment Network"};
  app.set_version_flag("--version", [] { return tsn::describeBuild("tsn_dist"); });
  app.add_flag_callback(
      "--config-reference",
      [] {
        std::cout << tsn::config::configReference();
        throw CLI::Success();
      },
      "print every config key (type, default, allowed values, what it does) as a Markdown "
      "table, the one in docs/config.md, and exit");
  Options options;
  options.addTo(app);
  CLI11_PARSE(app, argc, argv);
  tsn::Job job;
  const int code = tsn::runMain("tsn_dist", [&] { return train(options, &argc, &argv, job); });
  // A rank that failed ends the whole job now, instead of leaving the others waiting in a
  // collective.
  return job.finish(code);
}
