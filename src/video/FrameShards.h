#pragma once
/// @file Packed frame shards, the format in one place for the packing tool and the reader.
///
/// A shard is a plain uncompressed tar file (ustar; readable by `tar`, Python's `tarfile` and
/// WebDataset) of one JPEG per frame, member `<key>.<frame:06d>.jpg`, a video's frames
/// contiguous and in order (WebDataset groups them into one sample by the key). Beside it,
/// `<shard>.idx`: per video its key, label, source path and fps, and per frame the offset of
/// its bytes in the shard, their size and CRC-32C; and `<shard>.json`, what packing it found
/// (videos, frames, the videos skipped and why). All are written under temporary names and
/// renamed when complete: a shard is whole or absent. `manifest.json` in the same directory
/// lists the shards with their sizes and checksums, the packing options and the tool.

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "video/FrameSource.h"

namespace tsn::shards {

struct FrameEntry {
  uint64_t offset = 0;  ///< of the JPEG bytes in the shard (past the member's tar header)
  uint32_t size = 0;
  uint32_t crc32c = 0;
};

struct VideoEntry {
  std::string key;     ///< tar member stem: no '/' or '.', at most kMaxKeyLength bytes
  std::string source;  ///< the video it was packed from, as listed
  int64_t label = 0;
  double sourceFps = 0;
  std::vector<FrameEntry> frames;
};

/// The index of one shard.
struct ShardIndex {
  uint64_t shardBytes = 0;  ///< the shard's size, checked against the file when read
  std::vector<VideoEntry> videos;
};

constexpr size_t kMaxKeyLength = 80;

/// Writes `<shard>.json`: the videos and frames packed, the shard's CRC-32C, and the videos
/// `skipped` (source, reason, error). ShardWriter::finish() calls it.
void writeShardSummary(const std::string& shard, int64_t videos, int64_t frames, uint32_t crc,
                       const nlohmann::json& skipped);

/// Writes `dir`/manifest.json listing `shardFiles` (names in `dir`, each complete with its
/// index and summary) with their sizes and CRC-32C, the packing `options` and `tool`. Returns
/// the manifest.
nlohmann::json writeManifest(const std::string& dir, const std::vector<std::string>& shardFiles,
                             const nlohmann::json& options, const std::string& tool);

/// The manifest at `path`, checked to be one; VideoError (invalid data) naming it otherwise.
nlohmann::json readManifest(const std::string& path);

/// The path of every shard a manifest lists (beside it).
std::vector<std::string> manifestShards(const std::string& manifestPath,
                                        const nlohmann::json& manifest);

/// CRC-32C of a whole file; VideoError naming it when it cannot be read.
uint32_t fileCrc32c(const std::string& path);

/// The index file beside `shard`.
std::string indexPath(const std::string& shard);

/// Reads an index; VideoError (invalid data) naming the file when it is not one, is damaged or
/// truncated (the file ends with a CRC-32C of all before it).
ShardIndex readIndex(const std::string& path);

/// Writes a shard and its index under temporary names (`.tmp` added); finish() renames the
/// index, then the shard. Destroyed unfinished (an exception, a kill), it leaves no shard.
class ShardWriter {
 public:
  explicit ShardWriter(std::string shard);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  /// Starts the next video; its frames follow with addFrame().
  void beginVideo(const std::string& key, const std::string& source, int64_t label, double fps);
  /// Appends the next frame of the current video (JPEG bytes) as a tar member.
  void addFrame(const std::vector<uint8_t>& jpeg);
  /// Bytes written so far, and their CRC-32C (the whole shard's once finished).
  uint64_t bytes() const { return offset_; }
  uint32_t crc() const { return crc_; }
  /// Ends the tar, writes the summary (with the CRC-32C computed while writing, and the videos
  /// `skipped`), flushes the files to disk and renames them; returns the index.
  const ShardIndex& finish(const nlohmann::json& skipped = nlohmann::json::array());

 private:
  void write(const void* data, size_t size);
  std::string shard_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint32_t crc_ = 0;
  ShardIndex index_;
  bool finished_ = false;
};

/// An open shard file, shared by the videos read from it (one descriptor, read by pread).
class ShardFile {
 public:
  /// Opens `path`; VideoError when it is missing, or its size is not the index's
  /// (`expectedBytes`; kAnySize takes the file as it is).
  static constexpr uint64_t kAnySize = UINT64_MAX;
  ShardFile(std::string path, uint64_t expectedBytes);
  ~ShardFile();
  ShardFile(const ShardFile&) = delete;
  ShardFile& operator=(const ShardFile&) = delete;
  const std::string& path() const { return path_; }
  /// `size` bytes at `offset`; VideoError (truncated) naming the shard when fewer come.
  void read(uint64_t offset, uint32_t size, std::vector<uint8_t>& into) const;

 private:
  std::string path_;
  int fd_ = -1;
};

/// The process's one descriptor for `shard`, opened at first use and kept open (readers on every
/// thread share it: pread has no file position).
std::shared_ptr<const ShardFile> openShared(const std::string& shard);

/// The frames of one packed video, read by offset, checked against their CRC-32C and decoded by
/// this thread's TurboJPEG decoder (reduced during decoding where the frame is at least twice
/// the size asked for).
class ShardVideoReader : public FrameSource {
 public:
  ShardVideoReader(std::shared_ptr<const ShardFile> shard, VideoEntry video);

  int64_t numFrames() const override { return static_cast<int64_t>(video_.frames.size()); }
  /// VideoError naming the shard, the video and the frame when a frame is damaged.
  std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, int shortSide) override;
  std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, cv::Size size) override;

 private:
  cv::Mat read(int64_t index, const jpeg::Target& target);
  std::shared_ptr<const ShardFile> shard_;
  VideoEntry video_;
  std::vector<uint8_t> bytes_;  ///< scratch for one frame's JPEG
};

}  // namespace tsn::shards
