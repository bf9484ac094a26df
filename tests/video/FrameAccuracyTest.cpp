// Frame accuracy: every frame the reader returns is the frame the ffmpeg CLI numbers so, for
// our writer's videos and for the CLI's own in many codecs and containers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "video/AvError.h"
#include "video/VideoReader.h"
#include "video/VideoTestSupport.h"

namespace tsn {
namespace {

using testing::cliVideo;
using testing::cliVideoStream;
using testing::cutByStreamCopy;
using testing::Encoding;
using testing::expectEveryFrameIsTheClis;
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
  cliVideo(video, v.encode, v.frames,
           fmt::format("{}x{}", v.rotation % 180 ? v.height : v.width,
                       v.rotation % 180 ? v.width : v.height));

  VideoReader reader(video);
  EXPECT_EQ(reader.info().codec, v.codec);
  EXPECT_EQ(reader.info().rotation, v.rotation);
  EXPECT_EQ(reader.info().seekable, v.seekable);
  ASSERT_EQ(reader.info().width, v.width);
  ASSERT_EQ(reader.info().height, v.height);
  // The CLI applies rotation metadata too (autorotate), so both see the displayed picture.
  const auto reference = ffmpegFrames(video, dir.path(), v.width, v.height);
  ASSERT_EQ(reader.info().numFrames, v.decodedFrames >= 0 ? v.decodedFrames : v.frames);
  expectEveryFrameIsTheClis(reader, reference);
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

/// A clip cut by stream copy from a longer video of the CLI's test pattern (100 frames).
struct CutClip {
  std::string name;
  std::string encode;   ///< the long video's ffmpeg options (MP4)
  std::string file;     ///< the clip's file name (the extension picks the container)
  double startS;        ///< where the cut starts
  bool leadingDropped;  ///< the clip starts with packets that decode to nothing
};

void PrintTo(const CutClip& c, std::ostream* os) {
  *os << c.name;
}

class CutClipFrameAccuracy : public ::testing::TestWithParam<CutClip> {};

TEST_P(CutClipFrameAccuracy, FramesAreWhatTheDecoderOutputsFromTheCut) {
  const CutClip c = GetParam();
  testing::TempDir dir("cut_" + c.name);
  const std::string source = (dir.path() / "long.mp4").string();
  const std::string clip = (dir.path() / c.file).string();
  cliVideo(source, c.encode, 100);
  cutByStreamCopy(source, clip, c.startS);

  VideoReader reader(clip);
  const VideoInfo& info = reader.info();
  EXPECT_EQ(info.leadingPacketsDropped > 0, c.leadingDropped) << info.leadingPacketsDropped;
  ASSERT_FALSE(info.keyframes.empty());
  EXPECT_EQ(info.keyframes.front(), 0);
  // What decodes is what counts: from the first frame shown to the end of the last, and the
  // mean rate over that span (an HEVC CRA's dropped RASL pictures leave a gap).
  const auto times = testing::cliFrameTimes(clip);
  ASSERT_EQ(static_cast<int64_t>(times.size()), info.numFrames);
  const double spanS = times.back() - times.front();
  EXPECT_NEAR(info.durationS, spanS + 1 / 25.0, 1e-3);
  if (info.leadingPacketsDropped > 0) {
    EXPECT_NEAR(info.fps, (times.size() - 1) / spanS, 1e-3);
  }
  expectEveryFrameIsTheClis(reader, ffmpegFrames(clip, dir.path(), 160, 120));
}

// The long videos: B-frames and a closed GOP of 50; an open GOP (x264's recovery point I-frames,
// whose leading B-frames refer to the GOP before); periodic intra refresh (recovery point SEI,
// no IDR after the first); HEVC with a closed GOP and with x265's open GOP (CRA pictures and
// their RASL leading pictures). MPEG-TS written from MP4 carries parameter sets only before an
// IDR: its leading packets cannot even be parsed.
const std::string kH264 = "-c:v libx264 -bf 3 -g 50 -pix_fmt yuv420p";
const std::string kH264NoB = "-c:v libx264 -bf 0 -g 50 -pix_fmt yuv420p";
const std::string kH264OpenGop =
    "-c:v libx264 -bf 3 -x264-params open_gop=1:keyint=25:min-keyint=25:scenecut=0 "
    "-pix_fmt yuv420p";
const std::string kH264IntraRefresh =
    "-c:v libx264 -bf 0 -x264-params intra-refresh=1:keyint=30 -pix_fmt yuv420p";
const std::string kHevc =
    "-c:v libx265 -x265-params log-level=error:keyint=50:min-keyint=50:scenecut=0:bframes=3:"
    "open-gop=0 -pix_fmt yuv420p";
const std::string kHevcOpenGop =
    "-c:v libx265 -x265-params log-level=error:keyint=25:min-keyint=25:scenecut=0:bframes=3:"
    "open-gop=1 -pix_fmt yuv420p";

INSTANTIATE_TEST_SUITE_P(
    StreamCopyCuts, CutClipFrameAccuracy,
    ::testing::Values(CutClip{"h264_bframes_mp4", kH264, "clip.mp4", 0.7, true},
                      CutClip{"h264_bframes_mkv", kH264, "clip.mkv", 0.7, true},
                      CutClip{"h264_bframes_ts_no_parameter_sets", kH264, "clip.ts", 0.7, true},
                      CutClip{"h264_no_bframes_mp4", kH264NoB, "clip.mp4", 1.0, true},
                      CutClip{"h264_open_gop_mp4", kH264OpenGop, "clip.mp4", 0.7, true},
                      CutClip{"h264_open_gop_mkv_at_recovery_point", kH264OpenGop, "clip.mkv", 1.0,
                              true},
                      CutClip{"h264_intra_refresh_mp4", kH264IntraRefresh, "clip.mp4", 0.7, true},
                      // HEVC's decoder shows a cut's leading pictures, as well as it can.
                      CutClip{"hevc_mp4", kHevc, "clip.mp4", 0.7, false},
                      CutClip{"hevc_open_gop_ts", kHevcOpenGop, "clip.ts", 0.7, true},
                      CutClip{"hevc_open_gop_mkv_at_cra", kHevcOpenGop, "clip.mkv", 1.0, true}),
    [](const auto& info) { return info.param.name; });

/// Cover art beside the video: the reader takes the stream the CLI maps, never the picture.
TEST(StreamChoice, CoverArtIsNeverTheVideoWhereverItIsStored) {
  testing::TempDir dir("stream_cover");
  const std::string video = (dir.path() / "v.mp4").string();
  const std::string cover = (dir.path() / "cover.jpg").string();
  cliVideo(video, kH264, 75);
  cliVideo(cover, "", 1, "300x300");
  struct Case {
    std::string file, mux;
    bool udtaFirst = false;
    int attachedPictures = 1;
  };
  const std::vector<Case> cases = {
      // MP4: the picture as `covr` after the track (FFmpeg's muxer), and before it.
      {"after.mp4", "-map 0 -map 1 -disposition:1 attached_pic"},
      {"before.mp4", "-map 0 -map 1 -disposition:1 attached_pic", true},
      // Matroska: an image attachment (after the tracks); a one-frame MJPEG track first.
      {"after.mkv", "-map 0 -attach '" + cover + "' -metadata:s:t mimetype=image/jpeg"},
      {"before.mkv", "-map 1 -map 0 -disposition:1 default", false, 0},
  };
  const auto reference = ffmpegFrames(video, dir.path(), 160, 120);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string out = (dir.path() / c.file).string();
    const auto muxed = testing::run(fmt::format(
        "ffmpeg -v error -y -i '{}' -i '{}' {} -c copy '{}'", video, cover, c.mux, out));
    ASSERT_EQ(muxed.exitCode, 0) << muxed.output;
    if (c.udtaFirst) testing::moveUdtaBeforeTracks(out);
    VideoReader reader(out);
    EXPECT_EQ(reader.info().codec, "h264");
    EXPECT_EQ(reader.info().width, 160);
    EXPECT_EQ(reader.info().attachedPictures, c.attachedPictures);
    EXPECT_EQ(reader.info().streamIndex, cliVideoStream(out));
    if (c.udtaFirst) {
      EXPECT_EQ(reader.info().streamIndex, 1);  // the picture came first
    }
    ASSERT_EQ(reader.info().numFrames, 75);
    const auto frames = reader.decode({0, 40, 74}, 0);
    EXPECT_LT(meanAbsDiff(frames[0], reference[0]), 3.0);
    EXPECT_LT(meanAbsDiff(frames[1], reference[40]), 3.0);
    EXPECT_LT(meanAbsDiff(frames[2], reference[74]), 3.0);
  }
}

/// Several real video streams: the CLI's choice (the largest picture, the default stream, the
/// first of equals), whatever their order.
TEST(StreamChoice, SeveralVideoStreamsPickWhatTheCliPicks) {
  testing::TempDir dir("stream_several");
  const std::string small = (dir.path() / "small.mp4").string();
  const std::string large = (dir.path() / "large.mp4").string();
  cliVideo(small, kH264, 30);
  cliVideo(large, kH264, 30, "320x240");
  const std::vector<std::string> muxes = {"-map 0 -map 1", "-map 1 -map 0", "-map 0 -map 0"};
  for (const auto& mux : muxes) {
    SCOPED_TRACE(mux);
    const std::string out = (dir.path() / "two.mkv").string();
    const auto muxed = testing::run(
        fmt::format("ffmpeg -v error -y -i '{}' -i '{}' {} -c copy '{}'", small, large, mux, out));
    ASSERT_EQ(muxed.exitCode, 0) << muxed.output;
    VideoReader reader(out);
    EXPECT_EQ(reader.info().videoStreams, 2);
    EXPECT_EQ(reader.info().streamIndex, cliVideoStream(out));
  }
}

TEST(StreamChoice, OnlyACoverPictureIsNoVideo) {
  testing::TempDir dir("stream_cover_only");
  const std::string cover = (dir.path() / "cover.jpg").string();
  const std::string out = (dir.path() / "cover_only.mkv").string();
  cliVideo(cover, "", 1, "64x64");
  // Sound and a cover picture, no video.
  const auto muxed = testing::run(
      fmt::format("ffmpeg -v error -y -f lavfi -i anullsrc -t 0.5 -c:a pcm_s16le -attach '{}' "
                  "-metadata:s:t mimetype=image/jpeg '{}'",
                  cover, out));
  ASSERT_EQ(muxed.exitCode, 0) << muxed.output;
  try {
    VideoReader reader(out);
    ADD_FAILURE() << "read a cover picture as the video";
  } catch (const VideoError& e) {
    EXPECT_EQ(e.failure(), VideoFailure::NoVideoStream);
    EXPECT_THAT(e.what(), ::testing::HasSubstr(out));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("attached picture"));
  }
}

}  // namespace
}  // namespace tsn
