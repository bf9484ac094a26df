// tsn_eval: evaluates a checkpoint on a file list, on 1..N ranks (mpirun / srun). Videos are
// sharded exactly (each once), per-video scores are gathered on rank 0, which prints top-1,
// top-5 and mean class accuracy and writes the per-video scores and the confusion matrix.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "Job.h"
#include "common/Error.h"
#include "common/Logging.h"
#include "common/Main.h"
#include "common/Stopwatch.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "train/Evaluator.h"

namespace {

void writeConfusion(const torch::Tensor& m, const std::filesystem::path& file) {
  std::ofstream out(file);
  const auto c = m.contiguous();
  const auto* v = c.data_ptr<int64_t>();
  const int64_t k = c.size(0);
  out << "true/predicted";
  for (int64_t j = 0; j < k; ++j) out << ',' << j;
  out << '\n';
  for (int64_t i = 0; i < k; ++i) {
    out << i;
    for (int64_t j = 0; j < k; ++j) out << ',' << v[i * k + j];
    out << '\n';
  }
  if (!out) throw tsn::Error(fmt::format("{}: cannot write", file.string()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a TSN checkpoint on a file list"};
  app.set_version_flag("--version", [] { return tsn::describeBuild("tsn_eval"); });
  std::string configPath, checkpoint, list, output;
  std::vector<std::string> overrides;
  int64_t numClips = 0, crops = 0;
  app.add_option("-c,--config", configPath, "TOML config the model was trained with")->required();
  app.add_option("--checkpoint", checkpoint, "tsn-dist checkpoint")->required();
  app.add_option("--list", list, "file list (default: data.test_list, else data.val_list)");
  app.add_option("--num-clips", numClips, "clips per video (default: eval.num_clips)");
  app.add_option("--crops", crops, "crops per clip: 1, 3 or 10 (default: eval.crops)")
      ->check(CLI::IsMember({1, 3, 10}));
  app.add_option("--output", output,
                 "per-video scores as JSON; the confusion matrix goes next to it "
                 "(<output>.confusion.csv)");
  app.add_option("--set", overrides, "override a key: section.key=value (repeatable)");
  CLI11_PARSE(app, argc, argv);

  tsn::Job job;
  const int code = tsn::runMain("tsn_eval", [&] {
    if (numClips > 0) overrides.push_back(fmt::format("eval.num_clips={}", numClips));
    if (crops > 0) overrides.push_back(fmt::format("eval.crops={}", crops));
    const tsn::Config config = tsn::loadConfig(configPath, overrides);
    if (list.empty())
      list = config.data.testList.empty() ? config.data.valList : config.data.testList;
    if (list.empty())
      throw tsn::ConfigError("no list: give --list, data.test_list or data.val_list");
    job = tsn::Job::start(config, &argc, &argv);
    auto& comm = *job.comm;
    job.initLogging(config);
    auto log = tsn::logging::get("eval");
    auto model = tsn::loadCheckpointModel(config, checkpoint, job.device);
    auto loader = tsn::makeClipLoader(config, list, false, comm.rank(), comm.size());
    const auto& samples = loader->dataset().samples();
    log->info("evaluating {} on {} videos of {} ({} clips x {} crops each) over {} ranks",
              checkpoint, samples.size(), list, config.eval.numClips, config.eval.crops,
              comm.size());

    tsn::Stopwatch time;
    const auto scores = tsn::scoreVideos(model, *loader, job.device, comm, 0,
                                         config.train.precision, /*progress=*/true);
    const auto r = tsn::summarize(scores);
    if (comm.rank() != 0) return tsn::kExitOk;

    for (const auto& [index, why] : scores.skipped) {
      log->warn("skipped {}: {}", samples[index].path, why);
    }
    std::cout << fmt::format(
                     "top1 {:.4f} top5 {:.4f} mean class accuracy {:.4f} loss {:.4f}: {} of {} "
                     "listed videos evaluated, {} skipped ({:.1f}s)",
                     r.top1, r.top5, r.meanClassAccuracy, r.loss, r.clips, samples.size(),
                     r.dropped, time.seconds())
              << std::endl;
    if (!output.empty()) {
      nlohmann::json videos = nlohmann::json::array();
      const auto predicted = scores.scores.argmax(1);
      for (size_t i = 0; i < scores.ids.size(); ++i) {
        const auto row = scores.scores[static_cast<int64_t>(i)].contiguous();
        videos.push_back({{"video", samples[scores.ids[i]].path},
                          {"label", scores.labels[i]},
                          {"predicted", predicted[static_cast<int64_t>(i)].item<int64_t>()},
                          {"scores", std::vector<float>(row.data_ptr<float>(),
                                                        row.data_ptr<float>() + row.numel())}});
      }
      nlohmann::json skipped = nlohmann::json::array();
      for (const auto& [index, why] : scores.skipped) {
        skipped.push_back({{"video", samples[index].path}, {"reason", why}});
      }
      const nlohmann::json report = {{"checkpoint", checkpoint},
                                     {"list", list},
                                     {"num_clips", config.eval.numClips},
                                     {"crops", config.eval.crops},
                                     {"ranks", comm.size()},
                                     {"listed", samples.size()},
                                     {"evaluated", r.clips},
                                     {"top1", r.top1},
                                     {"top5", r.top5},
                                     {"mean_class_accuracy", r.meanClassAccuracy},
                                     {"loss", r.loss},
                                     {"skipped", skipped},
                                     {"videos", videos}};
      const auto parent = std::filesystem::path(output).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      std::ofstream out(output);
      out << report.dump(1) << '\n';
      if (!out) throw tsn::Error(fmt::format("{}: cannot write", output));
      writeConfusion(tsn::confusionMatrix(scores), output + ".confusion.csv");
      log->info("wrote {} and {}.confusion.csv", output, output);
    }
    return tsn::kExitOk;
  });
  return job.finish(code);
}
