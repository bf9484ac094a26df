#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "common/Error.h"
#include "support/TestSupport.h"
#include "synth/SyntheticDataset.h"
#include "video/AvError.h"
#include "video/VideoReader.h"
#include "video/VideoWriter.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

struct Encoding {
  std::string container;
  int gop;
  int bframes;
};

void PrintTo(const Encoding& e, std::ostream* os) {
  *os << e.container << " gop " << e.gop << " bframes " << e.bframes;
}

std::string writeVideo(const std::filesystem::path& dir, const Encoding& e, int frames) {
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
std::vector<cv::Mat> ffmpegFrames(const std::string& video, const std::filesystem::path& dir,
                                  int width, int height) {
  const auto raw = dir / "frames.rgb";
  const auto r =
      testing::run(fmt::format("ffmpeg -v error -y -i '{}' -fps_mode passthrough -f rawvideo "
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

double meanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3;
}

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

TEST(VideoReader, AppliesRotationMetadataAsTheFfmpegCliDoes) {
  for (const int rotation : {90, 180, 270}) {
    testing::TempDir dir(fmt::format("reader_rotation_{}", rotation));
    const auto video = (dir.path() / "phone.mp4").string();
    VideoWriterOptions o;
    o.width = 160;
    o.height = 120;
    o.gop = 8;
    o.rotation = rotation;
    {
      VideoWriter writer(video, o);
      const auto spec = synth::makeVideoSpec(2, 10, 0, 3, o.width, o.height);
      for (int t = 0; t < 16; ++t) writer.write(synth::renderFrame(spec, t));
    }
    VideoReader reader(video);
    EXPECT_EQ(reader.info().rotation, rotation);
    const bool quarter = rotation != 180;
    EXPECT_EQ(reader.info().width, quarter ? 120 : 160);
    EXPECT_EQ(reader.info().height, quarter ? 160 : 120);
    const auto reference =
        ffmpegFrames(video, dir.path(), reader.info().width, reader.info().height);
    ASSERT_EQ(reference.size(), 16u);
    const auto frames = reader.decode({3, 11}, 0);
    EXPECT_LT(meanAbsDiff(frames[0], reference[3]), 1.0) << rotation;
    EXPECT_LT(meanAbsDiff(frames[1], reference[11]), 1.0) << rotation;
    // Short-side scaling keeps the displayed orientation.
    const auto small = reader.decode({3}, 60);
    EXPECT_EQ(small[0].cols, quarter ? 60 : 80);
    EXPECT_EQ(small[0].rows, quarter ? 80 : 60);
  }
}

TEST(VideoReader, SparseDecodingDecodesOnlyWhatTheGopRequires) {
  testing::TempDir dir("reader_sparse");
  const std::string video = writeVideo(dir.path(), {"mp4", 10, 2}, 60);
  VideoReader reader(video);
  const auto frames = reader.decode({5, 25, 45}, 0);
  ASSERT_EQ(frames.size(), 3u);
  // Each wanted frame sits 5 frames after a keyframe: at most ~6 decoded per wanted frame
  // (plus B-frame reordering), far from the 46 a decode-everything reader needs.
  EXPECT_LE(reader.stats().framesDecoded, 3 * 8);
  EXPECT_EQ(reader.stats().framesConverted, 3);
}

TEST(VideoReader, ScalesTheShortSideKeepingAspect) {
  testing::TempDir dir("reader_scale");
  const std::string video = writeVideo(dir.path(), {"mp4", 10, 2}, 10);
  VideoReader reader(video);
  const auto frames = reader.decode({3}, 64);
  EXPECT_EQ(frames[0].cols, 85);
  EXPECT_EQ(frames[0].rows, 64);
  EXPECT_EQ(scaledSize(120, 160, 64), cv::Size(64, 85));
  EXPECT_EQ(scaledSize(160, 120, 0), cv::Size(160, 120));
}

TEST(VideoReader, OutOfRangeFrameNamesThePath) {
  testing::TempDir dir("reader_range");
  const std::string video = writeVideo(dir.path(), {"mp4", 10, 2}, 10);
  VideoReader reader(video);
  try {
    reader.decode({10}, 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(video));
    EXPECT_THAT(e.what(), HasSubstr("frame 10 out of range [0, 10)"));
  }
}

TEST(VideoReader, DecodeTimeLimitStopsSlowVideos) {
  testing::TempDir dir("reader_timeout");
  const std::string video = writeVideo(dir.path(), {"mp4", 10, 2}, 10);
  ReaderOptions tiny;
  tiny.timeoutS = 1e-9;
  EXPECT_THAT([&] { VideoReader r(video, tiny); },
              ::testing::ThrowsMessage<Error>(HasSubstr(video + ": decoding took longer than")));
}

TEST(VideoReader, OnlyLocalFilesOfAllowedContainers) {
  testing::TempDir dir("reader_whitelist");
  const std::string video = writeVideo(dir.path(), {"mp4", 10, 2}, 10);
  ReaderOptions mkvOnly;
  mkvOnly.containers = "matroska";
  EXPECT_THAT([&] { VideoReader r(video, mkvOnly); },
              ::testing::ThrowsMessage<Error>(HasSubstr(video)));
  // Not a file: refused by the protocol whitelist before anything is sent (loopback anyway).
  ReaderOptions anyContainer;
  anyContainer.containers = "";
  EXPECT_THROW(VideoReader r("http://127.0.0.1:9/x.mp4", anyContainer), Error);
  EXPECT_NO_THROW(VideoReader r(video, anyContainer));
}

// A named pipe blocks open() until a writer comes: it must be refused before any open. (If the
// reader ever opened it, a writer that the guard lets in after 10 s ends the wait, and the
// message check fails instead of the test hanging.)
TEST(VideoReader, PipesDevicesAndDirectoriesAreRefusedBeforeAnyOpen) {
  testing::TempDir dir("reader_not_files");
  const auto fifo = (dir.path() / "stalled.mp4").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::promise<void> done;
  std::thread guard([&, finished = done.get_future()] {
    if (finished.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) {
      const int fd = ::open(fifo.c_str(), O_WRONLY);
      if (fd >= 0) ::close(fd);
    }
  });
  EXPECT_THAT([&] { VideoReader r(fifo); },
              ::testing::ThrowsMessage<Error>(HasSubstr(
                  fifo + ": is a named pipe (FIFO), not a regular file; only regular files")));
  done.set_value();
  guard.join();
  EXPECT_THAT([&] { VideoReader r(dir.str()); },
              ::testing::ThrowsMessage<Error>(HasSubstr(": is a directory, not a regular file")));
  EXPECT_THAT([] { VideoReader r("/dev/null"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("/dev/null: is a character device")));
  try {
    VideoReader r(fifo);
  } catch (const std::exception& e) {
    EXPECT_EQ(failureReason(e), "not a regular file");
  }
}

// A refusal says what was refused and what to change; no message ends in a source location.
TEST(VideoReader, AContainerOutsideTheListIsNamedWithTheSettingThatAllowsIt) {
  testing::TempDir dir("reader_refusals");
  const std::string video = (dir.path() / "clip.ogv").string();
  const auto made = testing::run(fmt::format(
      "ffmpeg -v error -y -f lavfi -i testsrc2=size=64x48:rate=25 -frames:v 10 -c:v libtheora "
      "'{}'",
      video));
  ASSERT_EQ(made.exitCode, 0) << made.output;
  ReaderOptions mp4Only;
  mp4Only.containers = "mov,mp4";
  EXPECT_THAT([&] { VideoReader r(video, mp4Only); },
              ::testing::ThrowsMessage<Error>(
                  HasSubstr(video + ": container 'ogg' (Ogg) is not among the allowed containers "
                                    "(data.containers: mov, mp4); add 'ogg' to data.containers")));
  EXPECT_NO_THROW(VideoReader r(video));  // Ogg is in the default list

  // A playlist: refused by default, and the message says why it is not a plain container.
  testing::writeFile(dir.path() / "list.m3u8",
                     "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nclip.ogv\n#EXT-X-ENDLIST\n");
  ReaderOptions probe;
  probe.containersSetting = "--containers";
  try {
    VideoReader r((dir.path() / "list.m3u8").string(), probe);
    ADD_FAILURE() << "an HLS playlist was opened";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("container 'hls'"));
    EXPECT_THAT(e.what(), HasSubstr("add 'hls' to --containers"));
    EXPECT_THAT(e.what(), HasSubstr("opens the files its playlist or pattern names"));
    EXPECT_EQ(failureReason(e), "unsupported container");
  }

  // Failures inside FFmpeg say what failed, in words, and no source location.
  const auto text = dir.path() / "notes.mp4";
  testing::writeFile(text, "this is not a video\n");
  try {
    VideoReader r(text.string());
    ADD_FAILURE() << "text opened as a video";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr(text.string() + ": cannot open: Invalid data found"));
    EXPECT_THAT(e.what(), ::testing::Not(::testing::ContainsRegex("\\.(cpp|h):[0-9]+")));
  }
}

TEST(VideoReader, CorruptOrTruncatedFilesNeverCrashOrHang) {
  testing::TempDir dir("reader_corrupt");
  const std::string video = writeVideo(dir.path(), {"mp4", 8, 2}, 32);
  std::ifstream in(video, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(17);
  int opened = 0, refused = 0;
  for (int trial = 0; trial < 60; ++trial) {
    std::string damaged = bytes;
    if (trial % 3 == 0) {
      damaged.resize(rng() % bytes.size());  // truncated anywhere
    } else {
      for (int k = 0; k < 1 + trial % 7; ++k)
        damaged[rng() % damaged.size()] = static_cast<char>(rng());
    }
    const auto path = dir.path() / fmt::format("damaged_{}.mp4", trial);
    testing::writeFile(path, damaged);
    ReaderOptions options;
    options.timeoutS = 10;
    // Either it reads (damage in picture data only) or it throws tsn::Error naming the file.
    try {
      VideoReader reader(path.string(), options);
      std::vector<int64_t> all(reader.info().numFrames);
      std::iota(all.begin(), all.end(), 0);
      reader.decode(all, 32);
      ++opened;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(path.string()));
      ++refused;
    }
  }
  EXPECT_EQ(opened + refused, 60);
  EXPECT_GT(refused, 0);
}

TEST(VideoReader, UnreadableFilesRaiseErrorsNamingThePath) {
  testing::TempDir dir("reader_bad");
  const auto missing = (dir.path() / "missing.mp4").string();
  EXPECT_THAT([&] { VideoReader r(missing); }, ::testing::ThrowsMessage<Error>(HasSubstr(missing)));
  const auto text = dir.path() / "notes.mp4";
  testing::writeFile(text, "this is not a video\n");
  EXPECT_THAT([&] { VideoReader r(text.string()); },
              ::testing::ThrowsMessage<Error>(HasSubstr(text.string())));
  const auto empty = dir.path() / "empty.mp4";
  testing::writeFile(empty, "");
  EXPECT_THROW(VideoReader r(empty.string()), Error);
}

// The reason travels in the error's type, not in its text.
TEST(VideoReader, FailuresCarryTheirCategory) {
  testing::TempDir dir("reader_reasons");
  const auto reasonOf = [](const std::function<void()>& open) {
    try {
      open();
    } catch (const std::exception& e) {
      return failureReason(e);
    }
    return std::string("no error");
  };
  const auto missing = (dir.path() / "missing.mp4").string();
  EXPECT_EQ(reasonOf([&] { VideoReader r(missing); }), "missing file");
  const auto text = dir.path() / "notes.mp4";
  testing::writeFile(text, "this is not a video\n");
  EXPECT_EQ(reasonOf([&] { VideoReader r(text.string()); }), "invalid data");
  const std::string video = writeVideo(dir.path(), {"mp4", 10, 2}, 10);
  ReaderOptions tiny;
  tiny.timeoutS = 1e-9;
  EXPECT_EQ(reasonOf([&] { VideoReader r(video, tiny); }), "timed out");
  EXPECT_EQ(reasonOf([&] { VideoReader(video).decode({10}, 0); }), "other error");  // out of range
  EXPECT_EQ(reasonOf([] { throw std::runtime_error("x"); }), "other error");
}

}  // namespace
}  // namespace tsn
