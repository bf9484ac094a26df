// Frame accuracy: every frame the reader returns is the frame the ffmpeg CLI numbers so, for
// our writer's videos and for the CLI's own in many codecs and containers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "video/VideoReader.h"
#include "video/VideoTestSupport.h"

namespace tsn {
namespace {

using testing::Encoding;
using testing::ffmpegFrames;
using testing::meanAbsDiff;
using testing::writeVideo;

class FrameAccuracy : public ::testing::TestWithParam<Encoding> {};

TEST_P(FrameAccuracy, EveryFrameMatchesTheFfmpegCli) {
  const Encoding e = GetParam();
  testing::TempDir dir(fmt::format("reader_{}_{}_{}", e.container, e.gop, e.bframes));
  const int kFrames = 40;
  const std::string video = writeVideo(dir.path(), e, kFrames);
  const auto reference = ffmpegFrames(video, dir.path(), 160, 120);
  ASSERT_EQ(reference.size(), static_cast<size_t>(kFrames));

  VideoReader reader(video);
  ASSERT_EQ(reader.info().numFrames, kFrames);
  EXPECT_EQ(reader.info().width, 160);
  EXPECT_EQ(reader.info().height, 120);
  EXPECT_EQ(reader.info().codec, "h264");
  std::vector<int64_t> expectedKeys;
  for (int k = 0; k < kFrames; k += e.gop) expectedKeys.push_back(k);
  EXPECT_EQ(reader.info().keyframes, expectedKeys);

  // Random access in a shuffled order, with repeats, as training asks for frames.
  std::vector<int64_t> order(kFrames);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(3));
  order.push_back(order.front());
  const auto frames = reader.decode(order, 0);
  ASSERT_EQ(frames.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t n = order[i];
    const double same = meanAbsDiff(frames[i], reference[n]);
    EXPECT_LT(same, 1.0) << "frame " << n;
    // And closer to frame n than to its neighbours: the index is exact, not off by one.
    if (n > 0) {
      EXPECT_LT(same, meanAbsDiff(frames[i], reference[n - 1])) << "frame " << n;
    }
    if (n + 1 < kFrames) {
      EXPECT_LT(same, meanAbsDiff(frames[i], reference[n + 1])) << "frame " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Encodings, FrameAccuracy,
                         ::testing::Values(Encoding{"mp4", 10, 2}, Encoding{"mp4", 40, 3},
                                           Encoding{"mp4", 1, 0}, Encoding{"mkv", 8, 2},
                                           Encoding{"mkv", 12, 0}),
                         [](const auto& info) {
                           return fmt::format("{}_gop{}_b{}", info.param.container, info.param.gop,
                                              info.param.bframes);
                         });

/// A video the ffmpeg CLI encodes from its moving test pattern.
struct CliVideo {
  std::string name;
  std::string file;    ///< output file name (the extension picks the container)
  std::string encode;  ///< ffmpeg options after the input
  int frames;
  std::string codec;  ///< what the reader must report
  int rotation = 0;
  int width = 160;  ///< as displayed
  int height = 120;
  int decodedFrames = -1;  ///< frames in the file, where the encoder drops some (-1: `frames`)
  bool seekable = true;    ///< packets carry presentation timestamps
};

void PrintTo(const CliVideo& v, std::ostream* os) {
  *os << v.name;
}

class CliFrameAccuracy : public ::testing::TestWithParam<CliVideo> {};

TEST_P(CliFrameAccuracy, EveryFrameMatchesTheFfmpegCli) {
  const CliVideo v = GetParam();
  testing::TempDir dir("cli_" + v.name);
  const std::string video = (dir.path() / v.file).string();
  const auto made = testing::run(
      fmt::format("ffmpeg -v error -y -f lavfi -i testsrc2=size={}x{}:rate=25 -frames:v {} {} '{}'",
                  v.rotation % 180 ? v.height : v.width, v.rotation % 180 ? v.width : v.height,
                  v.frames, v.encode, video));
  ASSERT_EQ(made.exitCode, 0) << made.output;

  VideoReader reader(video);
  EXPECT_EQ(reader.info().codec, v.codec);
  EXPECT_EQ(reader.info().rotation, v.rotation);
  EXPECT_EQ(reader.info().seekable, v.seekable);
  ASSERT_EQ(reader.info().width, v.width);
  ASSERT_EQ(reader.info().height, v.height);
  // The CLI applies rotation metadata too (autorotate), so both see the displayed picture.
  const auto reference = ffmpegFrames(video, dir.path(), v.width, v.height);
  ASSERT_EQ(reader.info().numFrames, static_cast<int64_t>(reference.size()));
  const int count = v.decodedFrames >= 0 ? v.decodedFrames : v.frames;
  ASSERT_EQ(reader.info().numFrames, count);

  std::vector<int64_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(9));
  const auto frames = reader.decode(order, 0);
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t n = order[i];
    ASSERT_EQ(frames[i].size(), reference[n].size());
    const double same = meanAbsDiff(frames[i], reference[n]);
    // Both convert with libswscale, with different filters (and dithering from 10 bits).
    EXPECT_LT(same, 3.0) << "frame " << n;
    if (n > 0) {
      EXPECT_LT(same, meanAbsDiff(frames[i], reference[n - 1])) << "frame " << n;
    }
    if (n + 1 < count) {
      EXPECT_LT(same, meanAbsDiff(frames[i], reference[n + 1])) << "frame " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    CodecsAndContainers, CliFrameAccuracy,
    ::testing::Values(
        CliVideo{"h264_bframes_mp4", "v.mp4", "-c:v libx264 -bf 3 -g 12 -pix_fmt yuv420p", 40,
                 "h264"},
        CliVideo{"h264_open_gop_mkv", "v.mkv",
                 "-c:v libx264 -bf 3 -x264-params open_gop=1:keyint=10:min-keyint=10:scenecut=0 "
                 "-pix_fmt yuv420p",
                 40, "h264"},
        CliVideo{"h264_10bit_mp4", "v.mp4", "-c:v libx264 -g 8 -pix_fmt yuv420p10le", 20, "h264"},
        CliVideo{"h264_odd_size_444_mkv", "v.mkv",
                 "-vf scale=161:121 -c:v libx264 -g 8 -pix_fmt yuv444p", 20, "h264", 0, 161, 121},
        CliVideo{"hevc_mkv", "v.mkv",
                 "-c:v libx265 -x265-params log-level=error:keyint=10:bframes=3 "
                 "-pix_fmt yuv420p",
                 30, "hevc"},
        CliVideo{"vp9_webm", "v.webm", "-c:v libvpx-vp9 -g 10 -deadline realtime -cpu-used 8", 30,
                 "vp9"},
        CliVideo{"mpeg4_avi", "v.avi", "-c:v mpeg4 -g 10 -q:v 3", 30, "mpeg4"},
        // AVI stores no presentation times: B-frames must be ordered from the bitstream.
        CliVideo{"mpeg4_bframes_avi", "v.avi", "-c:v mpeg4 -bf 2 -g 12 -q:v 3", 40, "mpeg4", 0, 160,
                 120, -1, false},
        // Xvid / DivX "packed" B-frames: a B-frame rides in the packet of the P-frame after it,
        // followed by a 6-byte placeholder packet.
        // (libxvid's packed B-frames leave 38 frames of the 40 it is given: ffprobe
        // -count_frames counts 38 too.)
        CliVideo{"xvid_packed_bframes_avi", "v.avi", "-c:v libxvid -bf 2 -g 12 -q:v 3", 40, "mpeg4",
                 0, 160, 120, 38, false},
        CliVideo{"h264_bframes_mpegts", "v.ts", "-c:v libx264 -bf 3 -g 12 -pix_fmt yuv420p", 40,
                 "h264"},
        CliVideo{"mpeg2_bframes_mpeg_ps", "v.mpg", "-c:v mpeg2video -bf 2 -g 12 -q:v 3", 40,
                 "mpeg2video"},
        CliVideo{"h264_bframes_flv", "v.flv", "-c:v libx264 -bf 3 -g 12 -pix_fmt yuv420p", 40,
                 "h264"},
        CliVideo{"h264_bframes_raw_stream", "v.h264", "-c:v libx264 -bf 3 -g 12 -pix_fmt yuv420p",
                 40, "h264", 0, 160, 120, -1, false},
        CliVideo{"wmv2_asf", "v.wmv", "-c:v wmv2 -g 12 -q:v 3", 30, "wmv2"},
        CliVideo{"theora_ogg", "v.ogv", "-c:v libtheora -g 10 -q:v 7", 30, "theora"},
        CliVideo{"theora_ogg_one_keyframe", "v.ogv", "-c:v libtheora -g 300 -q:v 7", 40, "theora"},
        CliVideo{"vfr_mkv", "v.mkv",
                 "-vf 'setpts=PTS+if(gte(N\\,10)\\,7)+if(gte(N\\,20)\\,11)' -fps_mode passthrough "
                 "-c:v libx264 -g 6 -pix_fmt yuv420p",
                 30, "h264"},
        CliVideo{"ten_frames_mp4", "v.mp4", "-c:v libx264 -pix_fmt yuv420p", 10, "h264"},
        CliVideo{"one_frame_mp4", "v.mp4", "-c:v libx264 -pix_fmt yuv420p", 1, "h264"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tsn
