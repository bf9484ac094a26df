// tsn_infer: class predictions for videos from a checkpoint, as JSON lines (one per video:
// the video, its top-k class names and probabilities; or the error that kept it out).
#include <fstream>
#include <iostream>

#include "common/Error.h"
#include "common/Main.h"
#include "data/FileList.h"
#include "evaluate/Evaluator.h"
#include "evaluate/Reports.h"
#include "launcher/Job.h"

int main(int argc, char** argv) {
  CLI::App app{"Predict the classes of videos with a TSN checkpoint (JSON lines)"};
  app.set_version_flag("--version", [] { return tsn::describeBuild("tsn_infer"); });
  tsn::ScoringOptions scoring;
  scoring.addTo(app);
  std::string list, classesFile, output, saveInputs;
  std::vector<std::string> videos;
  int64_t topk = 5;
  bool logits = false;
  auto* listOpt = app.add_option("--list", list, "file list (labels are ignored)");
  app.add_option("--video", videos, "video file (repeatable)")->excludes(listOpt);
  app.add_option("--topk", topk, "classes per video")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--classes", classesFile,
                 "class names, one per line (default: classes.txt in data.root when present)");
  app.add_option("--output", output, "JSON lines file (default: stdout)");
  app.add_flag("--logits", logits, "also write every class score (logits, before softmax)");
  app.add_option("--save-inputs", saveInputs,
                 "also save the network inputs as a torch.save file {clips, videos} (one "
                 "process; for checking against another implementation)");
  CLI11_PARSE(app, argc, argv);

  tsn::Job job;
  const int code = tsn::runMain("tsn_infer", [&] {
    if (list.empty() && videos.empty()) throw tsn::ConfigError("give --list or --video");
    const tsn::Config config = tsn::loadConfig(scoring.config, scoring.overrides);
    const auto guess = std::filesystem::path(config.data.root) / "classes.txt";
    if (classesFile.empty() && std::filesystem::exists(guess)) classesFile = guess.string();
    const auto names = tsn::readClassNames(classesFile, config.model.numClasses);
    std::vector<tsn::VideoSample> samples;
    if (!list.empty()) {
      samples =
          tsn::readFileList(list, config.data.format, config.data.root, config.model.numClasses);
    } else {
      for (const auto& v : videos) samples.push_back({v, 0, -1});
    }
    job = tsn::Job::start(config, &argc, &argv, /*single=*/!saveInputs.empty());
    job.initLogging(config);
    const auto scored =
        tsn::scoreCheckpoint(config, scoring.checkpoint, samples, list.empty() ? "--video" : list,
                             *job.comm, job.device);
    if (job.comm->rank() != 0) return tsn::kExitOk;
    std::ofstream file;
    if (!output.empty()) {
      file.open(output);
      if (!file) throw tsn::Error(fmt::format("{}: cannot write", output));
    }
    tsn::writePredictions(output.empty() ? std::cout : file, scored.scores, samples, names, topk,
                          logits);
    if (!saveInputs.empty()) tsn::saveNetworkInputs(saveInputs, *scored.loader, samples);
    return tsn::kExitOk;
  });
  return job.finish(code);
}
