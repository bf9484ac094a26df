#pragma once
/// @file File lists in MMAction2/PaddleVideo form: `path label` (videos) or
/// `dir num_frames label` (rawframes); `#` comments and blank lines allowed.

#include <cstdint>
#include <string>
#include <vector>

#include "config/Config.h"
#include "video/FrameShards.h"

namespace tsn {

struct VideoSample {
  std::string path;  ///< root joined with the listed path
  int64_t label = 0;
  int64_t numFrames = -1;  ///< rawframes only
  int64_t line = 0;        ///< 1-based line of the list it was read from
  /// Shards: the packed video (its frames' offsets); `path` is its shard.
  std::shared_ptr<const shards::VideoEntry> packed;
};

/// Reads and validates a list. Throws ConfigError naming the list file and line for a malformed
/// line, a label outside [0, numClasses), or a path that escapes `root` through "..". For
/// shards, `listPath` is the manifest (tsn_pack): every shard it lists must be there whole
/// (its size that of its index), or ConfigError names it, before any sample is read.
std::vector<VideoSample> readFileList(const std::string& listPath, DataFormat format,
                                      const std::string& root, int64_t numClasses);

/// Stable 64-bit hash of a list's samples (paths and labels), for cross-rank checks.
uint64_t fileListHash(const std::vector<VideoSample>& samples);

}  // namespace tsn
