#pragma once
/// @file What the video tests share: videos written by our writer or by the ffmpeg CLI, and the
/// CLI's own frames to compare with.

#include <opencv2/core.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/TestSupport.h"
#include "synth/SyntheticDataset.h"
#include "video/VideoReader.h"
#include "video/VideoWriter.h"

namespace tsn::testing {

struct Encoding {
  std::string container;
  int gop;
  int bframes;
};

inline void PrintTo(const Encoding& e, std::ostream* os) {
  *os << e.container << " gop " << e.gop << " bframes " << e.bframes;
}

inline std::string writeVideo(const std::filesystem::path& dir, const Encoding& e, int frames) {
  const auto path = (dir / fmt::format("v_gop{}_b{}.{}", e.gop, e.bframes, e.container)).string();
  VideoWriterOptions o;
  o.width = 160;
  o.height = 120;
  o.fps = 25;
  o.gop = e.gop;
  o.maxBFrames = e.bframes;
  VideoWriter writer(path, o);
  const auto spec = synth::makeVideoSpec(3, 10, 1, 5, o.width, o.height);
  for (int t = 0; t < frames; ++t) writer.write(synth::renderFrame(spec, t));
  writer.close();
  return path;
}

/// Every frame `ffmpeg -vsync passthrough` outputs, as RGB images.
inline std::vector<cv::Mat> ffmpegFrames(const std::string& video, const std::filesystem::path& dir,
                                         int width, int height) {
  const auto raw = dir / "frames.rgb";
  const auto r =
      run(fmt::format("ffmpeg -v error -y -i '{}' -fps_mode passthrough -f rawvideo "
                      "-pix_fmt rgb24 '{}'",
                      video, raw.string()));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  std::ifstream in(raw, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t frameBytes = static_cast<size_t>(width) * height * 3;
  std::vector<cv::Mat> frames;
  for (size_t off = 0; off + frameBytes <= bytes.size(); off += frameBytes) {
    frames.push_back(cv::Mat(height, width, CV_8UC3, bytes.data() + off).clone());
  }
  return frames;
}

inline double meanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3;
}

/// Encodes `frames` of the ffmpeg CLI's moving test pattern (160x120, 25 fps) into `video` with
/// `encode` (options after the input; the extension picks the container).
inline void cliVideo(const std::string& video, const std::string& encode, int frames,
                     const std::string& size = "160x120") {
  const auto made = run(
      fmt::format("ffmpeg -v error -y -f lavfi -i testsrc2=size={}:rate=25 -frames:v {} {} '{}'",
                  size, frames, encode, video));
  ASSERT_EQ(made.exitCode, 0) << made.output;
}

/// `clip`: `source` from `startS` on, cut by stream copy as a user cuts one
/// (`ffmpeg -i long.mp4 -ss 0.7 -c copy -copyinkf clip.mp4`): between keyframes, its first
/// packets come before the first keyframe, as broadcast and camera captures often start.
inline void cutByStreamCopy(const std::string& source, const std::string& clip, double startS) {
  const auto cut = run(fmt::format("ffmpeg -v error -y -i '{}' -ss {} -c copy -copyinkf '{}'",
                                   source, startS, clip));
  ASSERT_EQ(cut.exitCode, 0) << cut.output;
}

/// The presentation time in seconds of every frame ffprobe decodes from `video`'s video stream.
inline std::vector<double> cliFrameTimes(const std::string& video) {
  const auto r = run(fmt::format(
      "ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time "
      "-of csv=p=0 '{}'",
      video));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  std::vector<double> times;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && (std::isdigit(static_cast<unsigned char>(line[0])) || line[0] == '-')) {
      times.push_back(std::stod(line));
    }
  }
  return times;
}

/// The input stream the ffmpeg CLI maps to its video output, from its "Stream mapping" lines.
inline int cliVideoStream(const std::string& video) {
  const auto r =
      run(fmt::format("ffmpeg -hide_banner -nostats -i '{}' -frames:v 1 -f null - 2>&1", video));
  std::smatch m;
  if (!std::regex_search(r.output, m, std::regex(R"(Stream #0:(\d+) -> #0:0)"))) {
    ADD_FAILURE() << "no stream mapping in: " << r.output;
    return -1;
  }
  return std::stoi(m[1]);
}

/// Moves the `udta` box of an MP4's `moov` (where FFmpeg stores cover art, as `covr`) in front
/// of the tracks, as tagging tools store it: the demuxer then sees the picture first. Box sizes
/// do not change, so with `moov` after `mdat` (FFmpeg's default) every sample offset holds.
inline void moveUdtaBeforeTracks(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const auto size32 = [&](size_t at) {
    return static_cast<size_t>(static_cast<uint8_t>(bytes[at])) << 24 |
           static_cast<size_t>(static_cast<uint8_t>(bytes[at + 1])) << 16 |
           static_cast<size_t>(static_cast<uint8_t>(bytes[at + 2])) << 8 |
           static_cast<size_t>(static_cast<uint8_t>(bytes[at + 3]));
  };
  // Boxes between `from` and `to`: (offset, size, type); 32-bit sizes only (small files).
  const auto boxes = [&](size_t from, size_t to) {
    std::vector<std::tuple<size_t, size_t, std::string>> found;
    for (size_t at = from; at + 8 <= to;) {
      const size_t size = size32(at);
      if (size < 8) {
        ADD_FAILURE() << path << ": box of " << size << " bytes at " << at;
        break;
      }
      found.emplace_back(at, size, bytes.substr(at + 4, 4));
      at += size;
    }
    return found;
  };
  const auto top = boxes(0, bytes.size());
  const auto moov =
      std::find_if(top.begin(), top.end(), [](const auto& b) { return std::get<2>(b) == "moov"; });
  ASSERT_NE(moov, top.end()) << path << ": no moov";
  const auto [moovAt, moovSize, moovType] = *moov;
  const auto children = boxes(moovAt + 8, moovAt + moovSize);
  std::string udta, rest;
  for (const auto& [at, size, type] : children) {
    (type == "udta" ? udta : rest) += bytes.substr(at, size);
  }
  ASSERT_FALSE(udta.empty()) << path << ": no udta in moov";
  // mvhd stays first; udta follows it, before every trak.
  const size_t mvhd = size32(moovAt + 8);
  ASSERT_EQ(bytes.substr(moovAt + 12, 4), "mvhd");
  const std::string reordered = rest.substr(0, mvhd) + udta + rest.substr(mvhd);
  bytes.replace(moovAt + 8, moovSize - 8, reordered);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// Every frame of `reader`, asked for in a shuffled order (seeks back and forth), is the CLI's
/// frame of that number: closest to it of its neighbours, and close in absolute terms.
inline void expectEveryFrameIsTheClis(VideoReader& reader, const std::vector<cv::Mat>& reference) {
  const auto count = static_cast<int64_t>(reference.size());
  ASSERT_EQ(reader.info().numFrames, count);
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(9));
  const auto frames = reader.decode(order, 0);
  for (size_t i = 0; i < order.size(); ++i) {
    const auto n = static_cast<size_t>(order[i]);
    ASSERT_EQ(frames[i].size(), reference[n].size());
    const double same = meanAbsDiff(frames[i], reference[n]);
    // Both convert with libswscale, with different filters (and dithering from 10 bits).
    EXPECT_LT(same, 3.0) << "frame " << n;
    if (n > 0) {
      EXPECT_LT(same, meanAbsDiff(frames[i], reference[n - 1])) << "frame " << n;
    }
    if (n + 1 < reference.size()) {
      EXPECT_LT(same, meanAbsDiff(frames[i], reference[n + 1])) << "frame " << n;
    }
  }
}

}  // namespace tsn::testing
