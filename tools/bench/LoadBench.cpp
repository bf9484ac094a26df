// tsn_bench load: clips/s of the trainer's own input pipeline (ClipLoader with its workers, the
// recipe's sampling and transforms, batch assembly, page-locked batches where a GPU is present)
// on a training list, per core, and where the time goes.
#include <sched.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

#include "bench/Bench.h"
#include "common/Error.h"
#include "common/Main.h"
#include "common/StageClock.h"
#include "common/Stopwatch.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "data/FileList.h"

namespace tsn {
namespace {

struct LoadOptions {
  std::string config, list, root;
  std::vector<std::string> overrides;
  int workers = 1;
  int clips = 320;
};

int coresAllowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

int runLoadBench(const LoadOptions& o) {
  Config c = loadConfig(o.config, o.overrides);
  if (!o.root.empty()) c.data.root = o.root;
  c.data.workers = o.workers;
  const std::string list = o.list.empty() ? c.data.trainList : o.list;
  const auto videos = readFileList(list, c.data.format, c.data.root, c.model.numClasses);
  TSN_CHECK(!videos.empty(), "{}: no videos", list);
  // Clip k reads video k % n: one epoch of exactly `clips` training samples.
  std::vector<VideoSample> samples;
  for (int k = 0; k < o.clips; ++k) samples.push_back(videos[k % videos.size()]);
  const auto loader = makeClipLoader(c, std::move(samples), list, /*training=*/true);

  StageClock::reset();
  StageClock::enable(true);
  const double cpuBefore = bench::cpuSeconds();
  const int64_t bytesBefore = bench::bytesRead();
  Stopwatch wall;
  loader->startEpoch(0);
  int64_t clips = 0, batches = 0;
  bool pinned = false;
  while (const auto batch = loader->next()) {
    clips += batch->clips.size(0);
    ++batches;
    pinned = batch->clips.is_pinned();
  }
  const double seconds = wall.seconds();
  const double cpu = bench::cpuSeconds() - cpuBefore;
  const int64_t bytes = bench::bytesRead() - bytesBefore;
  StageClock::enable(false);

  // Workers beyond the cores allowed share them: per core divides by what can run at once.
  const int cores = std::min(std::max(o.workers, 1), coresAllowed());
  const double clipsPerS = clips / seconds;
  const double perCore = clipsPerS / cores;
  const double read = StageClock::seconds(Stage::Read);
  const double convert = StageClock::seconds(Stage::Convert);
  const nlohmann::json stageSeconds = {
      {"open_and_index", StageClock::seconds(Stage::Open)},
      {"decode", read - convert},
      {"convert_and_scale", convert},
      {"crop_flip_normalise", StageClock::seconds(Stage::Transform)},
      {"batch_assembly", StageClock::seconds(Stage::Assemble)}};
  double staged = 0;
  nlohmann::json shares;
  for (const auto& [name, value] : stageSeconds.items()) {
    staged += value.get<double>();
    shares[name] = value.get<double>() / cpu;
  }
  shares["other"] = std::max(0.0, cpu - staged) / cpu;
  const auto stats = loader->stats();
  nlohmann::json report = {
      {"benchmark", "load"},
      {"config", o.config},
      {"list", list},
      {"format", c.data.format == DataFormat::Video       ? "video"
                 : c.data.format == DataFormat::Rawframes ? "rawframes"
                                                          : "shards"},
      {"videos", videos.size()},
      {"workers", o.workers},
      {"cores", cores},
      {"clips", clips},
      {"batches", batches},
      {"batch_size", c.train.batchSize},
      {"seg_num", c.model.segNum},
      {"seglen", c.model.seglen},
      {"short_size", c.data.shortSize},
      {"target_size", c.data.targetSize},
      {"multi_scale_crop", c.data.multiScaleCrop},
      {"flip", c.data.flip},
      {"pinned_batches", pinned},
      {"seconds", seconds},
      {"clips_per_s", clipsPerS},
      {"clips_per_s_per_core", perCore},
      {"cpu_seconds", cpu},
      {"clips_per_cpu_second", clips / cpu},
      {"stage_cpu_seconds", stageSeconds},
      {"stage_shares_of_cpu", shares},
      // Part of open_and_index: FFmpeg's stream probe, which decodes each file's first frames.
      {"stream_probe_cpu_seconds", StageClock::seconds(Stage::Probe)},
      {"failed_samples", stats.failed},
      // read(2) and pread(2) of the whole process while loading (lists and config were read
      // before): the frames, or the video files' packets, that the clips needed.
      {"bytes_read_per_clip", static_cast<double>(bytes) / clips},
      // An H200 trains ResNet-50 TSN (3 segments, 224 px, bf16) at ~1,300-1,600 clips/s
      // (issue 22): the cores of this speed it takes to keep one fed.
      {"cores_to_feed_1300_clips_per_s", 1300 / perCore},
      {"cores_to_feed_1600_clips_per_s", 1600 / perCore},
      {"peak_rss_mb", bench::peakRssMb()}};
  if (c.data.format == DataFormat::Shards) {
    // The limit of the format: decoding the same kind of frames, nothing else, on this core.
    report["decode_only"] =
        bench::shardDecodeLimit(videos, o.clips, c.model.segNum, c.model.seglen, c.data.shortSize);
    report["of_decode_only"] =
        perCore / report["decode_only"]["turbojpeg_clips_per_s"].get<double>();
  }
  std::cout << report.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace

bench::Benchmark bench::addLoad(CLI::App& app) {
  auto o = std::make_shared<LoadOptions>();
  auto* load = app.add_subcommand(
      "load", "clips/s of the training input pipeline (decode, transforms, batches) per core");
  load->add_option("--config", o->config, "TOML config (model.*, data.*, train.batch_size)")
      ->required();
  load->add_option("--set", o->overrides, "override a key: section.key=value (repeatable)");
  load->add_option("--list", o->list, "file list (default: the config's data.train_list)");
  load->add_option("--root", o->root,
                   "directory the listed paths are relative to (default: "
                   "data.root)");
  load->add_option("--workers", o->workers, "decode workers (data.workers)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  load->add_option("--clips", o->clips, "training clips to load (clip k reads video k % n)")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  return {load, [o](int*, char***) { return runLoadBench(*o); }};
}

}  // namespace tsn
