// tsn_eval: evaluates a checkpoint on a file list, on 1..N ranks (mpirun / srun). Videos are
// sharded exactly (each once), per-video scores are gathered on rank 0, which prints top-1,
// top-5 and mean class accuracy and writes the per-video scores and the confusion matrix.
#include <iostream>

#include "common/Error.h"
#include "common/Logging.h"
#include "common/Main.h"
#include "common/Stopwatch.h"
#include "data/FileList.h"
#include "evaluate/Evaluator.h"
#include "evaluate/Reports.h"
#include "launcher/Job.h"

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a TSN checkpoint on a file list"};
  app.set_version_flag("--version", [] { return tsn::describeBuild("tsn_eval"); });
  tsn::ScoringOptions scoring;
  scoring.addTo(app);
  std::string list, output;
  int64_t numClips = 0, crops = 0;
  app.add_option("--list", list, "file list (default: data.test_list, else data.val_list)");
  app.add_option("--num-clips", numClips, "clips per video (default: eval.num_clips)");
  app.add_option("--crops", crops, "crops per clip: 1, 3 or 10 (default: eval.crops)")
      ->check(CLI::IsMember({1, 3, 10}));
  app.add_option("--output", output,
                 "per-video scores as JSON; the confusion matrix goes next to it "
                 "(<output>.confusion.csv)");
  CLI11_PARSE(app, argc, argv);

  tsn::Job job;
  const int code = tsn::runMain("tsn_eval", [&] {
    if (numClips > 0) scoring.overrides.push_back(fmt::format("eval.num_clips={}", numClips));
    if (crops > 0) scoring.overrides.push_back(fmt::format("eval.crops={}", crops));
    const tsn::Config config = tsn::loadConfig(scoring.config, scoring.overrides);
    if (list.empty())
      list = config.data.testList.empty() ? config.data.valList : config.data.testList;
    if (list.empty())
      throw tsn::ConfigError("no list: give --list, data.test_list or data.val_list");
    const auto samples =
        tsn::readFileList(list, config.data.format, config.data.root, config.model.numClasses);
    job = tsn::Job::start(config, &argc, &argv);
    job.initLogging(config);
    tsn::Stopwatch time;
    const auto scored =
        tsn::scoreCheckpoint(config, scoring.checkpoint, samples, list, *job.comm, job.device);
    const auto result = tsn::summarize(scored.scores);
    if (job.comm->rank() != 0) return tsn::kExitOk;
    for (const auto& [index, why] : scored.scores.skipped) {
      tsn::logging::get("eval")->warn("skipped {}: {}", samples[index].path, why);
    }
    std::cout << tsn::evalSummaryLine(result, samples.size(), time.seconds()) << std::endl;
    if (!output.empty()) {
      tsn::writeEvalReport(
          output,
          {scoring.checkpoint, list, config.eval.numClips, config.eval.crops, job.comm->size()},
          scored.scores, result, samples);
      tsn::logging::get("eval")->info("wrote {} and {}.confusion.csv", output, output);
    }
    return tsn::kExitOk;
  });
  return job.finish(code);
}
