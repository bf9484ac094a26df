#pragma once
/// @file What tsn_eval and tsn_infer write from gathered video scores: the summary line, the
/// per-video scores as JSON with the confusion matrix as CSV, predictions as JSON lines, and the
/// network inputs for checking against another implementation.

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "data/ClipLoader.h"
#include "data/FileList.h"
#include "evaluate/Evaluator.h"

namespace tsn {

/// "top1 ... top5 ... mean class accuracy ... loss ...: N of M listed videos evaluated, K
/// skipped (S s)".
std::string evalSummaryLine(const EvalResult& r, size_t listed, double seconds);

/// What an evaluation ran on, for its report.
struct EvalRun {
  std::string checkpoint, list;
  int64_t numClips = 1, crops = 1;
  int ranks = 1;
};

/// `output` (JSON: the run, the metrics, the skipped videos with why, every video's label,
/// prediction and scores) and `output`.confusion.csv (rows true, columns predicted).
void writeEvalReport(const std::filesystem::path& output, const EvalRun& run,
                     const VideoScores& scores, const EvalResult& result,
                     const std::vector<VideoSample>& samples);

/// Class names, one per line of `file`; the class indices when `file` is empty. ConfigError when
/// the file cannot be read or names another number of classes.
std::vector<std::string> readClassNames(const std::string& file, int64_t numClasses);

/// One JSON line per video: {"video", "top": [{"class", "index", "prob"}]} (and "logits" when
/// asked), then {"video", "error"} for each skipped one.
void writePredictions(std::ostream& out, const VideoScores& scores,
                      const std::vector<VideoSample>& samples,
                      const std::vector<std::string>& classNames, int64_t topk, bool logits);

/// The network's inputs for every video, in dataset order, as a torch.save file
/// {"clips": [N, T, 3, S, S], "videos": [paths]} (one process: `loader` holds every video).
void saveNetworkInputs(const std::filesystem::path& file, ClipLoader& loader,
                       const std::vector<VideoSample>& samples);

}  // namespace tsn
