#include "config/ConfigSchema.h"

#include "config/SchemaFields.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "common/Error.h"
#include "common/Strings.h"

namespace tsn::config {

[[noreturn]] void Context::fail(const std::string& what) const {
  throw ConfigError(fmt::format("{}: {}: {}", where, key, what));
}

using namespace detail;  // NOLINT(google-build-using-namespace): the schema's vocabulary

const std::vector<Section>& schema() {
  using C = Config;
  static const std::vector<Section> sections = {
      {"model",
       {field("backbone", &C::model, &ModelConfig::backbone, "the ResNet of every segment",
              oneOf({"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"})),
        field("width", &C::model, &ModelConfig::width,
              "channels of the stem; 64 is torchvision's ResNet, less a tiny one",
              atLeast<int64_t>(1)),
        field("num_classes", &C::model, &ModelConfig::numClasses, "classes of the classifier",
              atLeast<int64_t>(2)),
        field("seg_num", &C::model, &ModelConfig::segNum,
              "TSN segments per clip (one frame each, scores averaged)", atLeast<int64_t>(1)),
        field("seglen", &C::model, &ModelConfig::seglen, "consecutive frames per segment",
              atLeast<int64_t>(1)),
        field("dropout", &C::model, &ModelConfig::dropout, "dropout before the classifier",
              inRange(0, 1, true)),
        field("partial_bn", &C::model, &ModelConfig::partialBn,
              "freeze every BatchNorm but the first (the TSN paper's partial BN)"),
        field("norm_eval", &C::model, &ModelConfig::normEval,
              "every BatchNorm keeps its running statistics while training (MMAction2's)"),
        field("pretrained", &C::model, &ModelConfig::pretrained,
              "weights to start from (torchvision's names or ours); empty: random")}},
      {"data",
       {enumField("format", &C::data, &DataConfig::format, kFormatNames,
                  "what the lists name: videos, rawframes folders, or tsn_pack manifests"),
        field("root", &C::data, &DataConfig::root, "the lists' video paths are relative to it"),
        field("train_list", &C::data, &DataConfig::trainList,
              "training list (relative to the working directory)"),
        field("val_list", &C::data, &DataConfig::valList, "validation list"),
        field("test_list", &C::data, &DataConfig::testList, "list tsn_eval reads by default"),
        field("short_size", &C::data, &DataConfig::shortSize,
              "frames are decoded with their short side scaled to this", atLeast<int64_t>(8)),
        enumField("resize", &C::data, &DataConfig::resize, kResizeNames,
                  "short_side keeps the aspect; fixed_4_3 scales every frame to (short_size * "
                  "4/3) x short_size, as PaddleVideo's reader"),
        enumField("short_video", &C::data, &DataConfig::shortVideo, kShortVideoNames,
                  "frames past the end of a video shorter than a clip: the last again, or loop"),
        field("decode_timeout_s", &C::data, &DataConfig::decodeTimeoutS,
              "one sample may take this long to read; a slower one is replaced and counted "
              "as timed out (0: no limit)",
              atLeast(0.0)),
        field("skip_loop_filter", &C::data, &DataConfig::skipLoopFilter,
              "training only: decode H.264 / HEVC without the deblocking filter (faster, frames "
              "not exact)"),
        field("containers", &C::data, &DataConfig::containers,
              "containers a video may be in; anything else is refused naming its format "
              "(empty: every demuxer)",
              demuxerNames()),
        field("target_size", &C::data, &DataConfig::targetSize, "crop fed to the network",
              atLeast<int64_t>(8)),
        field("multi_scale_crop", &C::data, &DataConfig::multiScaleCrop,
              "MMAction2's MultiScaleCrop in training (scales 1, .875, .75, .66)"),
        field("flip", &C::data, &DataConfig::flip, "random horizontal flip in training"),
        field("mean", &C::data, &DataConfig::mean, "per channel, on pixels in [0, 1]",
              threePositive(false)),
        field("std", &C::data, &DataConfig::std, "per channel, on pixels in [0, 1]",
              threePositive(true)),
        field("workers", &C::data, &DataConfig::workers,
              "decode threads per rank; 0 decodes in the training thread", atLeast<int64_t>(0)),
        field("prefetch_batches", &C::data, &DataConfig::prefetchBatches,
              "ready batches held per rank", atLeast<int64_t>(1)),
        field("max_bad_fraction", &C::data, &DataConfig::maxBadFraction,
              "stop when more of the videos read in an epoch fail", inRange(0, 1, false)),
        field("pin_memory", &C::data, &DataConfig::pinMemory,
              "on a GPU: batches in page-locked memory, copied without blocking")}},
      {"train",
       {field("epochs", &C::train, &TrainConfig::epochs, "epochs to train", atLeast<int64_t>(1)),
        field("batch_size", &C::train, &TrainConfig::batchSize, "clips per rank per step",
              atLeast<int64_t>(1)),
        field("lr", &C::train, &TrainConfig::lr,
              "learning rate (scaled by the global batch with lr_reference_batch)", positive()),
        field("momentum", &C::train, &TrainConfig::momentum, "SGD momentum", inRange(0, 1, true)),
        field("weight_decay", &C::train, &TrainConfig::weightDecay, "SGD weight decay",
              atLeast(0.0)),
        field("lr_decay_epochs", &C::train, &TrainConfig::lrDecayEpochs,
              "epochs at which the LR is multiplied by lr_decay (empty: 1/3 and 2/3 of epochs)"),
        field("lr_decay", &C::train, &TrainConfig::lrDecay, "the step LR factor",
              inRange(0, 1, false)),
        field("warmup_epochs", &C::train, &TrainConfig::warmupEpochs,
              "linear warmup, in (fractional) epochs", atLeast(0.0)),
        field("clip_grad_norm", &C::train, &TrainConfig::clipGradNorm,
              "clip the gradients' joint 2-norm to this (0: off)", atLeast(0.0)),
        field("seed", &C::train, &TrainConfig::seed,
              "the run's seed: weights, sampling, each rank's dropout", atLeast<int64_t>(0)),
        field("log_interval", &C::train, &TrainConfig::logInterval,
              "steps per log line and metrics.jsonl record (and per host wait for the GPU)",
              atLeast<int64_t>(1)),
        field("val_interval", &C::train, &TrainConfig::valInterval,
              "epochs between validations; 0: only after the last", atLeast<int64_t>(0)),
        field("work_dir", &C::train, &TrainConfig::workDir,
              "checkpoints, logs, metrics.jsonl and TensorBoard files", nonEmpty()),
        field("lr_reference_batch", &C::train, &TrainConfig::lrReferenceBatch,
              "lr is for this global batch, scaled linearly to the real one (0: no scaling)",
              atLeast<int64_t>(0)),
        field("max_steps", &C::train, &TrainConfig::maxSteps,
              "stop (with a checkpoint) after this many steps; 0: no limit", atLeast<int64_t>(0)),
        field("check_finite", &C::train, &TrainConfig::checkFinite,
              "check loss, gradients and weights for NaN/Inf every step"),
        enumField("precision", &C::train, &TrainConfig::precision, kPrecisionNames,
                  "autocast precision of forward (the loss in fp32; fp16 with loss scaling, GPU "
                  "only)"),
        field("channels_last", &C::train, &TrainConfig::channelsLast,
              "NHWC weights and activations (faster convolutions on GPUs)"),
        field("cudnn_benchmark", &C::train, &TrainConfig::cudnnBenchmark,
              "let cuDNN time its algorithms once per shape (off in --debug)")}},
      {"eval",
       {field("batch_size", &C::eval, &EvalConfig::batchSize, "clips per rank",
              atLeast<int64_t>(1)),
        field("num_clips", &C::eval, &EvalConfig::numClips, "clips per video, scores averaged",
              atLeast<int64_t>(1)),
        field("crops", &C::eval, &EvalConfig::crops,
              "crops per clip (centre, ThreeCrop, TenCrop), scores averaged",
              oneOfCounts({1, 3, 10}))}},
      {"dist",
       {enumField("backend", &C::dist, &DistConfig::backend, kBackendNames,
                  "auto: NCCL with CUDA and a GPU, else MPI; mpi for a GPU model is refused "
                  "unless MPI is CUDA-aware"),
        field("bucket_mb", &C::dist, &DistConfig::bucketMb,
              "gradient bucket size (MB) of the all-reduce during backward", positive()),
        field("first_bucket_mb", &C::dist, &DistConfig::firstBucketMb,
              "the first bucket (the gradients backward gives first): small, as DDP's", positive()),
        field("timeout_s", &C::dist, &DistConfig::timeoutS,
              "every collective completes within this or the job stops naming the missing "
              "ranks",
              positive()),
        field("mpi_progress_us", &C::dist, &DistConfig::mpiProgressUs,
              "MPI: a progress thread tests collectives in flight this often (0: only when "
              "polled)",
              atLeast<int64_t>(0))}},
      {"checkpoint",
       {field("interval_epochs", &C::checkpoint, &CheckpointConfig::intervalEpochs,
              "epochs between checkpoints (the last epoch's always; 0: only then)",
              atLeast<int64_t>(0)),
        field("interval_iters", &C::checkpoint, &CheckpointConfig::intervalIters,
              "also every this many steps; 0: only at epoch ends", atLeast<int64_t>(0)),
        field("keep_last", &C::checkpoint, &CheckpointConfig::keepLast,
              "checkpoints kept besides the best", atLeast<int64_t>(1))}},
      {"log",
       {field("level", &C::log, &LogConfig::level, "log level",
              oneOf({"trace", "debug", "info", "warn", "error"})),
        field("console_all_ranks", &C::log, &LogConfig::consoleAllRanks,
              "every rank logs to the console (default: rank 0)"),
        field("rank_files", &C::log, &LogConfig::rankFiles,
              "one log file per rank in <work_dir>/logs"),
        field("tensorboard", &C::log, &LogConfig::tensorboard,
              "rank 0 writes TensorBoard event files in <work_dir>/tensorboard")}},
  };
  return sections;
}

std::string configReference() {
  // Defaults as a resolved config writes them (TOML), from a Config left at its defaults.
  const Config defaults;
  std::string out =
      "| key | type | default | allowed | what it does |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& section : schema()) {
    for (const auto& f : section.fields) {
      toml::table table;
      f.write(defaults, table);
      std::ostringstream value;
      if (const auto* node = table.get(f.key)) {
        node->visit([&](const auto& v) { value << toml::toml_formatter(v); });
      }
      std::string shown = value.str();
      if (shown.empty() || shown == "''") shown = "(empty)";
      out += fmt::format("| `{}.{}` | {} | `{}` | {} | {} |\n", section.name, f.key, f.type, shown,
                         f.allowed.empty() ? "any" : f.allowed, f.doc);
    }
  }
  return out;
}

namespace {

template <class Item, class Name>
std::vector<std::string> namesOf(const std::vector<Item>& items, Name name) {
  std::vector<std::string> names;
  for (const auto& item : items) names.push_back(name(item));
  return names;
}

std::string didYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string near = closestMatch(word, candidates);
  return near.empty() ? fmt::format(" (valid: {})", fmt::join(candidates, ", "))
                      : fmt::format(" (did you mean '{}'?)", near);
}

}  // namespace

const Section& findSection(const std::string& name, const Context& ctx) {
  const auto& sections = schema();
  for (const auto& s : sections) {
    if (s.name == name) return s;
  }
  ctx.fail(
      fmt::format("unknown section [{}]{}", name,
                  didYouMean(name, namesOf(sections, [](const Section& s) { return s.name; }))));
}

const Field& findField(const Section& section, const std::string& key, const Context& ctx) {
  for (const auto& f : section.fields) {
    if (f.key == key) return f;
  }
  ctx.fail(
      fmt::format("unknown key '{}' in [{}]{}", key, section.name,
                  didYouMean(key, namesOf(section.fields, [](const Field& f) { return f.key; }))));
}

std::string toString(Precision precision) {
  for (const auto& [name, value] : kPrecisionNames) {
    if (value == precision) return name;
  }
  return "?";
}

}  // namespace tsn::config

namespace tsn {

std::string toString(Precision precision) {
  return config::toString(precision);
}

}  // namespace tsn
