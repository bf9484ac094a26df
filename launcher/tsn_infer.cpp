// tsn_infer: class predictions for videos from a checkpoint, as JSON lines (one per video:
// the video, its top-k class names and probabilities; or the error that kept it out).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "Job.h"
#include "common/Error.h"
#include "common/Logging.h"
#include "common/Main.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "data/FileList.h"
#include "model/TorchSave.h"
#include "train/Evaluator.h"

namespace {

/// One name per line; without a file, names are the class indices.
std::vector<std::string> classNames(const std::string& file, int64_t numClasses) {
  std::vector<std::string> names;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw tsn::ConfigError(fmt::format("--classes {}: cannot open", file));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      names.push_back(line);
    }
    if (static_cast<int64_t>(names.size()) != numClasses) {
      throw tsn::ConfigError(fmt::format("--classes {}: {} names for a model of {} classes", file,
                                         names.size(), numClasses));
    }
    return names;
  }
  for (int64_t k = 0; k < numClasses; ++k) names.push_back(std::to_string(k));
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Predict the classes of videos with a TSN checkpoint (JSON lines)"};
  app.set_version_flag("--version", [] { return tsn::describeBuild("tsn_infer"); });
  std::string configPath, checkpoint, list, classesFile, output, saveInputs;
  std::vector<std::string> videos, overrides;
  int64_t topk = 5;
  bool logits = false;
  app.add_option("-c,--config", configPath, "TOML config the model was trained with")->required();
  app.add_option("--checkpoint", checkpoint, "tsn-dist checkpoint")->required();
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
  app.add_option("--set", overrides, "override a key: section.key=value (repeatable)");
  CLI11_PARSE(app, argc, argv);

  tsn::Job job;
  const int code = tsn::runMain("tsn_infer", [&] {
    if (list.empty() && videos.empty()) throw tsn::ConfigError("give --list or --video");
    const tsn::Config config = tsn::loadConfig(configPath, overrides);
    if (classesFile.empty()) {
      const auto guess = std::filesystem::path(config.data.root) / "classes.txt";
      if (std::filesystem::exists(guess)) classesFile = guess.string();
    }
    const auto names = classNames(classesFile, config.model.numClasses);
    std::vector<tsn::VideoSample> samples;
    if (!list.empty()) {
      samples =
          tsn::readFileList(list, config.data.format, config.data.root, config.model.numClasses);
    } else {
      for (const auto& v : videos) samples.push_back({v, 0, -1});
    }
    job = tsn::Job::start(config, &argc, &argv, /*single=*/!saveInputs.empty());
    auto& comm = *job.comm;
    job.initLogging(config);
    auto model = tsn::loadCheckpointModel(config, checkpoint, job.device);
    auto loader = tsn::makeClipLoader(config, samples, list.empty() ? "--video" : list, false,
                                      comm.rank(), comm.size());
    const auto scores = tsn::scoreVideos(model, *loader, job.device, comm, 0,
                                         config.train.precision, /*progress=*/true);
    if (comm.rank() != 0) return tsn::kExitOk;

    std::ofstream file;
    if (!output.empty()) {
      file.open(output);
      if (!file) throw tsn::Error(fmt::format("{}: cannot write", output));
    }
    std::ostream& out = output.empty() ? std::cout : file;
    const auto probs = torch::softmax(scores.scores, 1);
    const int64_t k = std::min<int64_t>(topk, config.model.numClasses);
    for (size_t i = 0; i < scores.ids.size(); ++i) {
      const auto row = static_cast<int64_t>(i);
      const auto [p, index] = probs[row].topk(k);
      nlohmann::json top = nlohmann::json::array();
      for (int64_t j = 0; j < k; ++j) {
        const auto c = index[j].item<int64_t>();
        top.push_back({{"class", names[c]}, {"index", c}, {"prob", p[j].item<double>()}});
      }
      nlohmann::json line = {{"video", samples[scores.ids[i]].path}, {"top", top}};
      if (logits) {
        const auto s = scores.scores[row].contiguous();
        line["logits"] = std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
      }
      out << line.dump() << '\n';
    }
    for (const auto& [index, why] : scores.skipped) {
      out << nlohmann::json({{"video", samples[index].path}, {"error", why}}).dump() << '\n';
    }
    if (!saveInputs.empty()) {
      // The same clips again, in dataset order, as the network saw them.
      c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
      std::vector<torch::Tensor> clips;
      c10::List<std::string> paths;
      loader->startEpoch(0);
      while (auto batch = loader->next()) {
        clips.push_back(batch->clips);
        for (const auto id : batch->sampleIds) paths.push_back(samples[id].path);
      }
      d.insert("clips", torch::cat(clips));
      d.insert("videos", paths);
      const auto bytes = tsn::torchSave(d);
      std::ofstream(saveInputs, std::ios::binary)
          .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    return tsn::kExitOk;
  });
  return job.finish(code);
}
