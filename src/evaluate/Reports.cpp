#include "evaluate/Reports.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "common/Error.h"
#include "model/TorchSave.h"

namespace tsn {
namespace {

std::vector<float> values(const torch::Tensor& row) {
  const auto c = row.contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

std::ofstream openForWriting(const std::filesystem::path& file) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file);
  if (!out) throw Error(fmt::format("{}: cannot write", file.string()));
  return out;
}

void writeConfusion(const torch::Tensor& m, const std::filesystem::path& file) {
  auto out = openForWriting(file);
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
  if (!out) throw Error(fmt::format("{}: cannot write", file.string()));
}

}  // namespace

std::string evalSummaryLine(const EvalResult& r, size_t listed, double seconds) {
  return fmt::format(
      "top1 {:.4f} top5 {:.4f} mean class accuracy {:.4f} loss {:.4f}: {} of {} listed videos "
      "evaluated, {} skipped ({:.1f}s)",
      r.top1, r.top5, r.meanClassAccuracy, r.loss, r.clips, listed, r.dropped, seconds);
}

void writeEvalReport(const std::filesystem::path& output, const EvalRun& run,
                     const VideoScores& scores, const EvalResult& r,
                     const std::vector<VideoSample>& samples) {
  nlohmann::json videos = nlohmann::json::array();
  const auto predicted = scores.scores.argmax(1);
  for (size_t i = 0; i < scores.ids.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    videos.push_back({{"video", samples[scores.ids[i]].path},
                      {"label", scores.labels[i]},
                      {"predicted", predicted[row].item<int64_t>()},
                      {"scores", values(scores.scores[row])}});
  }
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& [index, why] : scores.skipped) {
    skipped.push_back({{"video", samples[index].path}, {"reason", why}});
  }
  const nlohmann::json report = {{"checkpoint", run.checkpoint},
                                 {"list", run.list},
                                 {"num_clips", run.numClips},
                                 {"crops", run.crops},
                                 {"ranks", run.ranks},
                                 {"listed", samples.size()},
                                 {"evaluated", r.clips},
                                 {"top1", r.top1},
                                 {"top5", r.top5},
                                 {"mean_class_accuracy", r.meanClassAccuracy},
                                 {"loss", r.loss},
                                 {"skipped", skipped},
                                 {"videos", videos}};
  auto out = openForWriting(output);
  out << report.dump(1) << '\n';
  if (!out) throw Error(fmt::format("{}: cannot write", output.string()));
  writeConfusion(confusionMatrix(scores), output.string() + ".confusion.csv");
}

std::vector<std::string> readClassNames(const std::string& file, int64_t numClasses) {
  std::vector<std::string> names;
  if (file.empty()) {
    for (int64_t k = 0; k < numClasses; ++k) names.push_back(std::to_string(k));
    return names;
  }
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("--classes {}: cannot open", file));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  if (static_cast<int64_t>(names.size()) != numClasses) {
    throw ConfigError(fmt::format("--classes {}: {} names for a model of {} classes", file,
                                  names.size(), numClasses));
  }
  return names;
}

void writePredictions(std::ostream& out, const VideoScores& scores,
                      const std::vector<VideoSample>& samples,
                      const std::vector<std::string>& classNames, int64_t topk, bool logits) {
  const auto probs = torch::softmax(scores.scores, 1);
  const int64_t k = std::min<int64_t>(topk, scores.scores.size(1));
  for (size_t i = 0; i < scores.ids.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    const auto [p, index] = probs[row].topk(k);
    nlohmann::json top = nlohmann::json::array();
    for (int64_t j = 0; j < k; ++j) {
      const auto c = index[j].item<int64_t>();
      top.push_back({{"class", classNames[c]}, {"index", c}, {"prob", p[j].item<double>()}});
    }
    nlohmann::json line = {{"video", samples[scores.ids[i]].path}, {"top", top}};
    if (logits) line["logits"] = values(scores.scores[row]);
    out << line.dump() << '\n';
  }
  for (const auto& [index, why] : scores.skipped) {
    out << nlohmann::json({{"video", samples[index].path}, {"error", why}}).dump() << '\n';
  }
}

void saveNetworkInputs(const std::filesystem::path& file, ClipLoader& loader,
                       const std::vector<VideoSample>& samples) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  std::vector<torch::Tensor> clips;
  c10::List<std::string> paths;
  loader.startEpoch(0);
  while (auto batch = loader.next()) {
    clips.push_back(batch->clips);
    for (const auto id : batch->sampleIds) paths.push_back(samples[id].path);
  }
  d.insert("clips", torch::cat(clips));
  d.insert("videos", paths);
  torchSave(d, file);
}

}  // namespace tsn
