// tsn_pack --list L --root R --out DIR: converts the videos of a file list once into packed frame
// shards (src/video/FrameShards.h): tar files of JPEG frames, an index beside each, and
// DIR/manifest.json. Frame i of a packed video is frame i of the sparse reader (every k-th with
// --every k; with --fps F the frame shown nearest to i / F). Shard s holds videos [s*V, (s+1)*V) of
// the list, so the shards are the same bytes whatever the number of threads or ranks; rank r of R
// (mpirun, Slurm array, or --rank/--ranks) packs the shards s with s % R == r. A complete shard is
// skipped on a rerun; a bad video is skipped and reported by reason.
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/Error.h"
#include "common/Main.h"
#include "common/Parallel.h"
#include "common/Strings.h"
#include "data/FileList.h"
#include "video/AvError.h"
#include "video/FrameShards.h"
#include "video/Jpeg.h"
#include "video/VideoReader.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr const char* kToolVersion = "tsn_pack 1";

struct Options {
  std::string list, root, out;
  int shortSide = 256;
  std::string size;  ///< WxH: exact, aspect not kept
  int quality = 90;
  int every = 1;
  double fps = 0;  ///< > 0: keep the frames nearest to this rate instead (when below the video's)
  int64_t videosPerShard = 0;  ///< 0: from --shard-mib and the first video's size
  double shardMib = 1024;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int rank = -1, ranks = -1;  ///< -1: from the environment
  double timeout = 60;
  bool verify = false;
};

/// One video, packed in memory: its frames' JPEG bytes, or why it could not be read.
struct Packed {
  std::vector<std::vector<uint8_t>> frames;
  double fps = 0;
  std::string error, reason;
};

/// This process's rank and their number: the options, else mpirun's (Open MPI), a Slurm job
/// step's (srun, with or without PMIx) or a Slurm array's (task ids from SLURM_ARRAY_TASK_MIN).
/// A batch script's own process, outside any step, is one rank of one.
std::pair<int, int> rankAndRanks(const Options& o) {
  if (o.rank >= 0 || o.ranks > 0) {
    if (o.rank < 0 || o.ranks <= 0 || o.rank >= o.ranks) {
      throw tsn::ConfigError(
          fmt::format("--rank {} --ranks {}: both needed, 0 <= rank < ranks", o.rank, o.ranks));
    }
    return {o.rank, o.ranks};
  }
  const auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::atoi(v) : -1;
  };
  if (env("OMPI_COMM_WORLD_SIZE") > 0) {
    return {env("OMPI_COMM_WORLD_RANK"), env("OMPI_COMM_WORLD_SIZE")};
  }
  if (env("SLURM_STEP_NUM_TASKS") > 1) return {env("SLURM_PROCID"), env("SLURM_STEP_NUM_TASKS")};
  if (env("SLURM_ARRAY_TASK_COUNT") > 0) {
    return {env("SLURM_ARRAY_TASK_ID") - std::max(0, env("SLURM_ARRAY_TASK_MIN")),
            env("SLURM_ARRAY_TASK_COUNT")};
  }
  return {0, 1};
}

/// The exact frame size of --size WxH; empty without it.
cv::Size exactSize(const std::string& size) {
  if (size.empty()) return {};
  int w = 0, h = 0;
  char rest = 0;
  if (std::sscanf(size.c_str(), "%dx%d%c", &w, &h, &rest) != 2 || w <= 0 || h <= 0) {
    throw tsn::ConfigError(fmt::format("--size '{}': expected WxH, e.g. 340x256", size));
  }
  return {w, h};
}

/// A tar member stem from the video's place in the list and its file name.
std::string keyOf(size_t position, const std::string& path) {
  std::string stem = fs::path(path).stem().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  }
  return fmt::format("{:08d}_{}", position, stem).substr(0, tsn::shards::kMaxKeyLength);
}

Packed pack(const tsn::VideoSample& sample, const Options& o) {
  Packed p;
  try {
    tsn::ReaderOptions reader;
    reader.timeoutS = o.timeout;
    tsn::VideoReader video(sample.path, reader);
    const double sourceFps = video.info().fps;
    std::vector<int64_t> wanted;
    if (o.fps > 0 && o.fps < sourceFps) {
      // Frame j of the packed video is the one shown nearest to time j / fps.
      p.fps = o.fps;
      for (int64_t j = 0;; ++j) {
        const auto i = static_cast<int64_t>(std::llround(j * sourceFps / o.fps));
        if (i >= video.numFrames()) break;
        wanted.push_back(i);
      }
    } else {
      p.fps = sourceFps / o.every;
      for (int64_t i = 0; i < video.numFrames(); i += o.every) wanted.push_back(i);
    }
    const cv::Size exact = exactSize(o.size);
    constexpr size_t kChunk = 32;  // frames decoded at once: memory stays small
    for (size_t at = 0; at < wanted.size(); at += kChunk) {
      const std::vector<int64_t> chunk(wanted.begin() + at,
                                       wanted.begin() + std::min(wanted.size(), at + kChunk));
      const auto frames =
          exact.area() > 0 ? video.decode(chunk, exact) : video.decode(chunk, o.shortSide);
      for (const auto& rgb : frames) {
        p.frames.emplace_back();
        tsn::jpeg::Encoder::forThisThread().encode(rgb, o.quality, p.frames.back());
      }
    }
  } catch (const std::exception& e) {
    p = {};
    p.error = e.what();
    p.reason = tsn::failureReason(e);
  }
  return p;
}

std::string shardName(int64_t s) {
  return fmt::format("shard-{:05d}.tar", s);
}

/// Packs shard `s` (videos [first, last) of the list): in windows of `threads` videos decoded
/// in parallel and written in list order. Its summary goes beside it as `<shard>.json`.
void packShard(int64_t s, size_t first, size_t last, const std::vector<tsn::VideoSample>& samples,
               const Options& o, const std::function<void(size_t)>& done) {
  const fs::path shard = fs::path(o.out) / shardName(s);
  tsn::shards::ShardWriter writer(shard.string());
  nlohmann::json skipped = nlohmann::json::array();
  const size_t window = static_cast<size_t>(std::max(1, o.threads));
  for (size_t at = first; at < last; at += window) {
    const size_t n = std::min(window, last - at);
    std::vector<Packed> packed(n);
    tsn::parallelFor(n, o.threads, [&](size_t i) { packed[i] = pack(samples[at + i], o); });
    for (size_t i = 0; i < n; ++i) {
      const auto& sample = samples[at + i];
      if (!packed[i].error.empty()) {
        skipped.push_back(
            {{"source", sample.path}, {"reason", packed[i].reason}, {"error", packed[i].error}});
      } else {
        writer.beginVideo(keyOf(at + i, sample.path), sample.path, sample.label, packed[i].fps);
        for (const auto& jpeg : packed[i].frames) writer.addFrame(jpeg);
      }
      done(1);
    }
  }
  writer.finish(skipped);
}

/// Verifies every shard against its index and the manifest; prints each problem. Returns how
/// many there are.
int verify(const fs::path& out) {
  const std::string path = (out / "manifest.json").string();
  const auto manifest = tsn::shards::readManifest(path);
  const auto paths = tsn::shards::manifestShards(path, manifest);
  int problems = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const auto& s = manifest["shards"][i];
    const std::string& shard = paths[i];
    try {
      const auto index = tsn::shards::readIndex(tsn::shards::indexPath(shard));
      if (index.shardBytes != s["bytes"].get<uint64_t>()) {
        throw tsn::Error(fmt::format("{}: the index says {} bytes, the manifest {}", shard,
                                     index.shardBytes, s["bytes"].get<uint64_t>()));
      }
      const auto file = std::make_shared<tsn::shards::ShardFile>(shard, index.shardBytes);
      if (tsn::shards::fileCrc32c(shard) != s["crc32c"].get<uint32_t>()) {
        throw tsn::Error(shard + ": CRC-32C differs from the manifest's (damaged)");
      }
      std::vector<uint8_t> bytes;
      for (const auto& v : index.videos) {
        for (size_t n = 0; n < v.frames.size(); ++n) {
          file->read(v.frames[n].offset, v.frames[n].size, bytes);
          if (tsn::crc32c(bytes.data(), bytes.size()) != v.frames[n].crc32c) {
            throw tsn::Error(fmt::format("{}: video {} ({}) frame {}: CRC-32C mismatch", shard,
                                         v.key, v.source, n));
          }
        }
      }
    } catch (const std::exception& e) {
      std::cout << "bad: " << e.what() << "\n";
      ++problems;
    }
  }
  std::cout << fmt::format("{}: {} shards, {} bad\n", (out / "manifest.json").string(),
                           manifest["shards"].size(), problems);
  return problems;
}

int run(const Options& o) {
  if (o.verify) return verify(o.out) == 0 ? tsn::kExitOk : 3;
  // Every option checked before any work.
  if (o.every < 1) throw tsn::ConfigError(fmt::format("--every must be >= 1, got {}", o.every));
  if (o.fps < 0 || (o.fps > 0 && o.every != 1)) {
    throw tsn::ConfigError(fmt::format(
        "--fps must be > 0 and not given with --every (got --fps {} --every {})", o.fps, o.every));
  }
  if (o.quality < 1 || o.quality > 100) {
    throw tsn::ConfigError(fmt::format("--quality must be in [1, 100], got {}", o.quality));
  }
  exactSize(o.size);
  rankAndRanks(o);
  const auto samples = tsn::readFileList(o.list, tsn::DataFormat::Video, o.root, INT64_MAX);
  TSN_CHECK(!samples.empty(), "{}: no videos listed", o.list);
  fs::create_directories(o.out);
  const auto [rank, ranks] = rankAndRanks(o);
  // Videos per shard: from the first readable video's packed size, the same on every rank.
  int64_t perShard = o.videosPerShard;
  for (size_t i = 0; perShard <= 0 && i < samples.size(); ++i) {
    const Packed p = pack(samples[i], o);
    if (!p.error.empty()) continue;
    uint64_t bytes = 0;
    for (const auto& f : p.frames) bytes += 512 + (f.size() + 511) / 512 * 512;
    perShard = std::max<int64_t>(
        1, static_cast<int64_t>(o.shardMib * (1 << 20) / std::max<uint64_t>(bytes, 1)));
  }
  if (perShard <= 0) perShard = static_cast<int64_t>(samples.size());
  const int64_t shards = (static_cast<int64_t>(samples.size()) + perShard - 1) / perShard;

  std::vector<int64_t> mine;
  size_t total = 0;
  for (int64_t s = rank; s < shards; s += ranks) {
    if (fs::exists(fs::path(o.out) / shardName(s))) continue;  // complete: a rerun skips it
    mine.push_back(s);
    total += std::min<size_t>(samples.size(), (s + 1) * perShard) - s * perShard;
  }
  std::cerr << fmt::format(
      "[pack] rank {} of {}: {} videos, {} per shard, {} shards; {} to pack here ({} videos)\n",
      rank, ranks, samples.size(), perShard, shards, mine.size(), total);
  const auto start = Clock::now();
  size_t done = 0;
  auto lastReport = start;
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  const auto progress = [&](size_t n) {
    done += n;
    const auto now = Clock::now();
    if (now - lastReport < std::chrono::seconds(terminal ? 1 : 10) && done < total) return;
    lastReport = now;
    const double s = std::chrono::duration<double>(now - start).count();
    const double rate = done / std::max(s, 1e-9);
    const auto line = fmt::format("[pack] {}/{} videos, {:.1f} videos/s, ETA {:.0f} s", done, total,
                                  rate, (total - done) / std::max(rate, 1e-9));
    std::cerr << (terminal ? "\r" + line : line + "\n") << std::flush;
  };
  for (const int64_t s : mine) {
    const size_t first = static_cast<size_t>(s * perShard);
    packShard(s, first, std::min(samples.size(), first + static_cast<size_t>(perShard)), samples, o,
              progress);
  }
  if (terminal && total > 0) std::cerr << "\n";

  // The manifest, once every shard is there (whichever rank finishes last writes it).
  std::vector<std::string> names;
  for (int64_t s = 0; s < shards; ++s) {
    if (!fs::exists(fs::path(o.out) / shardName(s))) {
      std::cerr << fmt::format(
          "[pack] rank {}: done; shard {} is not there yet (another rank's): no manifest from this "
          "rank\n",
          rank, s);
      return tsn::kExitOk;
    }
    names.push_back(shardName(s));
  }
  const auto manifest =
      tsn::shards::writeManifest(o.out, names,
                                 {{"list", o.list},
                                  {"short_side", o.size.empty() ? o.shortSide : 0},
                                  {"size", o.size},
                                  {"quality", o.quality},
                                  {"every", o.every},
                                  {"fps", o.fps},
                                  {"videos_per_shard", perShard}},
                                 kToolVersion);
  std::cout << fmt::format("{}: {} videos ({} skipped), {} frames in {} shards\n",
                           (fs::path(o.out) / "manifest.json").string(),
                           manifest["videos"].get<int64_t>(), manifest["skipped"].get<int64_t>(),
                           manifest["frames"].get<int64_t>(), shards);
  return tsn::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Pack the videos of a file list into frame shards (tar of JPEG frames + index)"};
  Options o;
  app.add_option("--list", o.list, "file list: 'path label' per line");
  app.add_option("--root", o.root, "directory the listed paths are relative to");
  app.add_option("--out", o.out, "directory for the shards and manifest.json")->required();
  app.add_option("--short-side", o.shortSide, "frames scaled to this short side, aspect kept")
      ->capture_default_str();
  app.add_option("--size", o.size, "frames scaled to exactly WxH instead (e.g. 340x256)");
  app.add_option("--quality", o.quality, "JPEG quality")->capture_default_str();
  app.add_option("--every", o.every, "keep every k-th frame")->capture_default_str();
  app.add_option("--fps", o.fps,
                 "keep the frames nearest to this rate (videos above it; 0: every frame)")
      ->capture_default_str();
  app.add_option("--shard-mib", o.shardMib, "target shard size in MiB")->capture_default_str();
  app.add_option("--videos-per-shard", o.videosPerShard, "videos per shard (0: from --shard-mib)");
  app.add_option("--threads", o.threads, "videos decoded at once")->capture_default_str();
  app.add_option("--rank", o.rank, "this process's rank (default: mpirun's or Slurm's)");
  app.add_option("--ranks", o.ranks, "number of ranks packing the list");
  app.add_option("--timeout", o.timeout, "seconds per video")->capture_default_str();
  app.add_flag("--verify", o.verify, "re-read every shard against its index and the manifest");
  CLI11_PARSE(app, argc, argv);
  const int code = tsn::runMain("tsn_pack", [&] {
    if (!o.verify && o.list.empty()) throw tsn::ConfigError("--list is required to pack");
    return run(o);
  });
  return tsn::leaveProcess(code);
}
