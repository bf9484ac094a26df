#pragma once
/// @file Frame-accurate sparse decoding of one video file.
///
/// Frame n is the n-th frame, in presentation order, that FFmpeg's decoder outputs from the video
/// stream the ffmpeg CLI picks (never an attached picture), as `ffmpeg -i V -fps_mode
/// passthrough` numbers them. The frame count and keyframe positions come from the demuxer's
/// packets and from decoding the first of them, never from container metadata: leading packets
/// that decode to nothing (a clip cut between keyframes) are not frames.

#include <opencv2/core.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "video/FrameSource.h"

namespace tsn {

/// What a reader may open and how long it may take: no input file may crash or hang a process.
struct ReaderOptions {
  double timeoutS = 30;  ///< per open and per decode() call; 0: no limit
  /// When set, the open and every decode() call end at this point instead (one deadline for a
  /// whole sample: the loader's data.decode_timeout_s).
  std::chrono::steady_clock::time_point deadline{};
  /// Demuxers allowed (FFmpeg names); empty allows every one. Only the `file` protocol is ever
  /// allowed, so a list or a playlist cannot make FFmpeg open a URL.
  std::string containers = "mov,mp4,matroska,webm,avi,mpegts,flv,mpeg,asf,ogg,h264,hevc";
  /// Where `containers` came from, named in the refusal of a container outside it.
  std::string containersSetting = "data.containers";
  /// Decode without the in-loop deblocking filter (H.264, HEVC): faster, and frames no longer
  /// exact (the error grows along a GOP, as later frames predict from unfiltered ones).
  bool skipLoopFilter = false;
};

struct VideoInfo {
  std::string path;
  int64_t numFrames = 0;
  double fps = 0;        ///< average frame rate of the frames that decode
  double durationS = 0;  ///< from the first frame shown to the end of the last
  int width = 0;         ///< as displayed: rotation applied
  int height = 0;
  int rotation = 0;  ///< clockwise degrees applied to decoded frames (0, 90, 180, 270)
  std::string codec;
  std::string container;
  std::string pixelFormat;
  std::vector<int64_t> keyframes;  ///< frame indices (presentation order) of keyframes
  /// False where packets carry no presentation timestamps (AVI with B-frames, raw H.264/HEVC
  /// streams): frames are then numbered in the order the decoder returns them, keyframes holds
  /// only 0, and each decode() call decodes from the start of the file.
  bool seekable = true;
  int streamIndex = -1;      ///< the container's stream read (the ffmpeg CLI's choice)
  int videoStreams = 0;      ///< video streams in the file, attached pictures not counted
  int attachedPictures = 0;  ///< cover art, thumbnails: streams of type video never read
  /// Packets before the first frame the decoder outputs (a clip cut between keyframes, an open
  /// GOP's leading pictures) that decode to nothing: not frames, not damage.
  int64_t leadingPacketsDropped = 0;
};

/// Counters of one reader, for benchmarks and tests.
struct DecodeStats {
  int64_t framesDecoded = 0;
  int64_t framesConverted = 0;
  int64_t seeks = 0;
};

class VideoReader : public FrameSource {
 public:
  /// Opens `path` and indexes its packets. Throws tsn::Error naming the path on any failure.
  explicit VideoReader(const std::string& path, const ReaderOptions& options = {});
  ~VideoReader() override;
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;
  const DecodeStats& stats() const;

  /// The frames at `indices` (any order, repeats allowed) as RGB 8-bit images, scaled so their
  /// short side is `shortSide` (aspect kept; 0 keeps the native size). Seeks to the keyframe at
  /// or before each wanted frame, decodes forward only as far as needed (skipping non-reference
  /// frames it does not want), and converts only the wanted frames. Rotation metadata is
  /// applied. Throws tsn::Error naming the path and frame if a frame cannot be decoded, or
  /// when the call takes longer than the timeout.
  std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, int shortSide = 0) override;

  /// The same, each frame scaled to exactly `size` (as displayed), aspect not kept.
  std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, cv::Size size) override;

  int64_t numFrames() const override { return info().numFrames; }

 private:
  struct State;
  struct Request;
  std::vector<cv::Mat> decodeFrames(const std::vector<int64_t>& indices, Request& request);
  std::unique_ptr<State> state_;
};

}  // namespace tsn
