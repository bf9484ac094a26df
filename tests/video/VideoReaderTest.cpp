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
#include "video/VideoTestSupport.h"

namespace tsn {
namespace {

using testing::ffmpegFrames;
using ::testing::HasSubstr;
using testing::meanAbsDiff;
using testing::writeVideo;

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
TEST(VideoReader, AClipWithNothingDecodableIsRefusedNamingTheFile) {
  testing::TempDir dir("reader_nothing_decodes");
  const std::string source = (dir.path() / "long.mp4").string();
  testing::cliVideo(source, "-c:v libx264 -bf 3 -g 50 -pix_fmt yuv420p", 100);
  // After the last keyframe: every packet refers to one the clip does not hold. MPEG-TS from an
  // open-GOP MP4: parameter sets only before IDR frames, and there is none after the first.
  const std::string tail = (dir.path() / "tail.mkv").string();
  testing::cutByStreamCopy(source, tail, 3.6);
  const std::string openGop = (dir.path() / "open_gop.mp4").string();
  testing::cliVideo(openGop,
                    "-c:v libx264 -bf 3 -x264-params open_gop=1:keyint=25:min-keyint=25:"
                    "scenecut=0 -pix_fmt yuv420p",
                    100);
  const std::string noParameterSets = (dir.path() / "no_parameter_sets.ts").string();
  testing::cutByStreamCopy(openGop, noParameterSets, 0.7);
  for (const auto& [video, says] : {std::pair{tail, "none of the video stream's 8 packets"},
                                    std::pair{noParameterSets, "nothing in it decodes"}}) {
    try {
      VideoReader reader(video);
      ADD_FAILURE() << video << ": opened, " << reader.info().numFrames << " frames";
    } catch (const VideoError& e) {
      EXPECT_EQ(e.failure(), VideoFailure::EmptyVideo) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(video));
      EXPECT_THAT(e.what(), HasSubstr(says));
    }
  }
}

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
