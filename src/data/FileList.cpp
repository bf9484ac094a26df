#include "data/FileList.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/Error.h"
#include "common/Strings.h"
#include "video/AvError.h"

namespace tsn {

namespace {

/// The videos of a shard manifest, in the order they were packed.
std::vector<VideoSample> readManifest(const std::string& manifestPath, int64_t numClasses) {
  nlohmann::json manifest;
  try {
    manifest = shards::readManifest(manifestPath);
  } catch (const VideoError& e) {
    throw ConfigError(e.what());
  }
  std::vector<VideoSample> samples;
  for (const std::string& shard : shards::manifestShards(manifestPath, manifest)) {
    shards::ShardIndex index;
    try {
      index = shards::readIndex(shards::indexPath(shard));
      shards::ShardFile check(shard, index.shardBytes);  // there, and whole
    } catch (const Error& e) {
      throw ConfigError(
          fmt::format("{}: shard {} cannot be read: {}", manifestPath, shard, e.what()));
    }
    for (auto& video : index.videos) {
      VideoSample sample;
      sample.path = shard;
      sample.label = video.label;
      sample.numFrames = static_cast<int64_t>(video.frames.size());
      sample.line = static_cast<int64_t>(samples.size()) + 1;
      if (sample.label < 0 || sample.label >= numClasses) {
        throw ConfigError(
            fmt::format("{}: video {} ({}): label {} outside [0, "
                        "model.num_classes={})",
                        shard, video.key, video.source, sample.label, numClasses));
      }
      sample.packed = std::make_shared<const shards::VideoEntry>(std::move(video));
      samples.push_back(std::move(sample));
    }
  }
  if (samples.empty()) throw ConfigError(fmt::format("{}: no videos in its shards", manifestPath));
  return samples;
}

}  // namespace

std::vector<VideoSample> readFileList(const std::string& listPath, DataFormat format,
                                      const std::string& root, int64_t numClasses) {
  if (format == DataFormat::Shards) return readManifest(listPath, numClasses);
  std::ifstream in(listPath);
  if (!in) throw ConfigError(fmt::format("{}: cannot open file list", listPath));
  std::vector<VideoSample> samples;
  std::string line;
  for (int lineNo = 1; std::getline(in, line); ++lineNo) {
    const std::string text = trim(line.substr(0, line.find('#')));
    if (text.empty()) continue;
    const auto fail = [&](const std::string& what) -> void {
      throw ConfigError(fmt::format("{}:{}: {}: \"{}\"", listPath, lineNo, what, text));
    };
    std::istringstream fields(text);
    VideoSample sample;
    sample.line = lineNo;
    std::string extra;
    const bool ok =
        format == DataFormat::Video
            ? static_cast<bool>(fields >> sample.path >> sample.label)
            : static_cast<bool>(fields >> sample.path >> sample.numFrames >> sample.label);
    if (!ok || (fields >> extra)) {
      fail(format == DataFormat::Video ? "expected 'path label'"
                                       : "expected 'dir num_frames label'");
    }
    if (sample.label < 0 || sample.label >= numClasses) {
      fail(fmt::format("label {} outside [0, model.num_classes={})", sample.label, numClasses));
    }
    if (format == DataFormat::Rawframes && sample.numFrames < 1) fail("num_frames must be >= 1");
    const std::filesystem::path relative = std::filesystem::path(sample.path).lexically_normal();
    if (relative.is_absolute() || (!relative.empty() && *relative.begin() == "..")) {
      fail("path escapes the data root");
    }
    sample.path = (std::filesystem::path(root) / relative).string();
    samples.push_back(std::move(sample));
  }
  if (samples.empty()) throw ConfigError(fmt::format("{}: file list has no entries", listPath));
  return samples;
}

uint64_t fileListHash(const std::vector<VideoSample>& samples) {
  uint64_t hash = kFnvOffset;
  for (const auto& s : samples) {
    hash = fnv1a(fmt::format("{} {} {}{}\n", s.path, s.label, s.numFrames,
                             s.packed ? " " + s.packed->key : ""),
                 hash);
  }
  return hash;
}

}  // namespace tsn
