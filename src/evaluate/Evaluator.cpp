#include "evaluate/Evaluator.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <numeric>

#include "checkpoint/Resume.h"
#include "common/Error.h"
#include "common/Logging.h"
#include "common/Stopwatch.h"
#include "common/Strings.h"

namespace tsn {
namespace {

/// Every rank's rows of `local` ([n_r, ...], n_r may differ), concatenated in rank order.
torch::Tensor gatherRows(const torch::Tensor& local, Communicator& comm) {
  auto count = torch::tensor({local.size(0)}, torch::kInt64);
  const auto counts = comm.allGather(count);
  const int64_t most = counts.max().item<int64_t>();
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = most;
  auto padded = torch::zeros(shape, local.options());
  if (local.size(0) > 0) padded.narrow(0, 0, local.size(0)).copy_(local);
  const auto all = comm.allGather(padded);
  std::vector<torch::Tensor> parts;
  for (int64_t r = 0; r < comm.size(); ++r)
    parts.push_back(all[r].narrow(0, 0, counts[r].item<int64_t>()));
  return torch::cat(parts);
}

std::vector<std::string> gatherStrings(const std::string& mine, Communicator& comm) {
  const auto bytes = torch::from_blob(const_cast<char*>(mine.data()),
                                      {static_cast<int64_t>(mine.size())}, torch::kUInt8)
                         .clone()
                         .unsqueeze(1);
  auto count = torch::tensor({static_cast<int64_t>(mine.size())}, torch::kInt64);
  const auto lengths = comm.allGather(count);
  const auto joined = gatherRows(bytes, comm).contiguous();
  std::vector<std::string> out;
  int64_t offset = 0;
  const auto* data = reinterpret_cast<const char*>(joined.data_ptr<uint8_t>());
  for (int64_t r = 0; r < comm.size(); ++r) {
    const int64_t n = lengths[r].item<int64_t>();
    out.emplace_back(data + offset, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

}  // namespace

VideoScores scoreVideos(Tsn& model, ClipLoader& loader, const torch::Device& device,
                        Communicator& comm, int64_t epoch, Precision precision, bool progress) {
  const bool wasTraining = model->is_training();
  model->eval();
  torch::NoGradGuard noGrad;
  std::vector<int64_t> ids, labels;
  std::vector<torch::Tensor> scores;
  const int64_t batches = loader.batchesPerEpoch();
  loader.startEpoch(epoch);
  Stopwatch clock, sinceLog;
  int64_t done = 0;
  while (auto batch = loader.next()) {
    const bool nonBlocking = device.is_cuda();
    torch::Tensor s;
    {
      AutocastScope autocast(device, precision);
      s = model->forward(batch->clips.to(device, nonBlocking));
    }
    scores.push_back(s.to(torch::kFloat32).cpu());
    ids.insert(ids.end(), batch->sampleIds.begin(), batch->sampleIds.end());
    const auto l = batch->labels.contiguous();
    labels.insert(labels.end(), l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
    ++done;
    if (progress && comm.rank() == 0 && sinceLog.seconds() > 10 && done < batches) {
      const double eta = clock.seconds() / static_cast<double>(done) * (batches - done);
      logging::get("eval")->info("evaluated {}/{} batches on rank 0 ({:.0f}%), ETA {}", done,
                                 batches, 100.0 * done / std::max<int64_t>(batches, 1),
                                 formatDuration(eta));
      sinceLog.reset();
    }
  }
  model->train(wasTraining);

  const int64_t classes = model->head->numClasses();
  auto localScores = scores.empty() ? torch::zeros({0, classes}) : torch::cat(scores).contiguous();
  auto localIds = torch::tensor(ids, torch::kInt64);
  auto localLabels = torch::tensor(labels, torch::kInt64);
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& [index, why] : loader.stats().droppedSamples) skipped.push_back({index, why});

  // Shards hold whole videos, none twice: the concatenation has every evaluated video once.
  const auto allScores = gatherRows(localScores, comm);
  const auto allIds = gatherRows(localIds, comm);
  const auto allLabels = gatherRows(localLabels, comm);
  const auto order = allIds.argsort();
  VideoScores out;
  out.scores = allScores.index_select(0, order).contiguous();
  const auto sortedIds = allIds.index_select(0, order).contiguous();
  const auto sortedLabels = allLabels.index_select(0, order).contiguous();
  out.ids.assign(sortedIds.data_ptr<int64_t>(), sortedIds.data_ptr<int64_t>() + sortedIds.numel());
  out.labels.assign(sortedLabels.data_ptr<int64_t>(),
                    sortedLabels.data_ptr<int64_t>() + sortedLabels.numel());
  for (const auto& text : gatherStrings(skipped.dump(), comm)) {
    for (const auto& item : nlohmann::json::parse(text)) {
      out.skipped.emplace_back(item[0].get<int64_t>(), item[1].get<std::string>());
    }
  }
  std::sort(out.skipped.begin(), out.skipped.end());
  return out;
}

EvalResult summarize(const VideoScores& v) {
  EvalResult r;
  r.clips = static_cast<int64_t>(v.ids.size());
  r.dropped = static_cast<int64_t>(v.skipped.size());
  if (r.clips == 0) return r;
  const auto labels = torch::tensor(v.labels, torch::kInt64);
  const int64_t k = std::min<int64_t>(5, v.scores.size(1));
  const auto top = std::get<1>(v.scores.topk(k, 1));
  const auto hit = top.eq(labels.unsqueeze(1));
  r.top1 = hit.select(1, 0).to(torch::kFloat64).mean().item<double>();
  r.top5 = hit.any(1).to(torch::kFloat64).mean().item<double>();
  r.loss = torch::cross_entropy_loss(v.scores, labels).item<double>();
  const auto confusion = confusionMatrix(v).to(torch::kFloat64);
  const auto perClass = confusion.sum(1);
  const auto present = perClass.gt(0);
  r.meanClassAccuracy =
      (confusion.diagonal().masked_select(present) / perClass.masked_select(present))
          .mean()
          .item<double>();
  return r;
}

torch::Tensor confusionMatrix(const VideoScores& v) {
  const int64_t classes = v.scores.size(1);
  if (v.ids.empty()) return torch::zeros({classes, classes}, torch::kInt64);
  const auto cell = torch::tensor(v.labels, torch::kInt64) * classes + v.scores.argmax(1);
  return torch::bincount(cell, {}, classes * classes).view({classes, classes});
}

EvalResult evaluate(Tsn& model, ClipLoader& loader, const torch::Device& device, Communicator& comm,
                    int64_t epoch, Precision precision) {
  return summarize(scoreVideos(model, loader, device, comm, epoch, precision, /*progress=*/true));
}

ScoredVideos scoreCheckpoint(const Config& config, const std::string& checkpoint,
                             std::vector<VideoSample> samples, const std::string& listName,
                             Communicator& comm, const torch::Device& device) {
  auto model = loadCheckpointModel(config, checkpoint, device);
  ScoredVideos out;
  out.loader =
      makeClipLoader(config, std::move(samples), listName, false, comm.rank(), comm.size());
  logging::get("eval")->info(
      "scoring {} videos of {} with {} ({} clips x {} crops each) over {} ranks",
      out.loader->dataset().size(), listName, checkpoint, config.eval.numClips, config.eval.crops,
      comm.size());
  out.scores = scoreVideos(model, *out.loader, device, comm, 0, config.train.precision,
                           /*progress=*/true);
  return out;
}

}  // namespace tsn
