#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "config/Config.h"
#include "data/FileList.h"
#include "support/TestSupport.h"
#include "synth/SyntheticDataset.h"
#include "video/VideoReader.h"

namespace tsn {
namespace {

std::string readBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Synth, WritesDecodableVideosAndKineticsStyleLists) {
  testing::TempDir dir("synth_out");
  const auto r = testing::run(testing::binary("tsn_synth") + " --out " + dir.str() +
                              " --classes 3 --videos-per-class 4 --val-fraction 0.25 --seconds 1.2 "
                              "--fps 10 --gop 5 --seed 3");
  ASSERT_EQ(r.exitCode, 0) << r.output;

  const auto train =
      readFileList((dir.path() / "train.list").string(), DataFormat::Video, dir.str(), 3);
  const auto val =
      readFileList((dir.path() / "val.list").string(), DataFormat::Video, dir.str(), 3);
  EXPECT_EQ(train.size(), 9u);
  EXPECT_EQ(val.size(), 3u);
  std::map<int64_t, int> perClass;
  for (const auto& s : train) ++perClass[s.label];
  EXPECT_EQ(perClass, (std::map<int64_t, int>{{0, 3}, {1, 3}, {2, 3}}));
  // The label is the class directory the video was written to.
  for (const auto& s : train) {
    EXPECT_NE(s.path.find(fmt::format("class_{:02d}", s.label)), std::string::npos) << s.path;
  }
  EXPECT_EQ(readBytes(dir.path() / "classes.txt"), "class_00\nclass_01\nclass_02\n");

  for (const auto& s : val) {
    VideoReader reader(s.path);
    EXPECT_EQ(reader.info().numFrames, 12) << s.path;
    EXPECT_EQ(reader.info().keyframes, (std::vector<int64_t>{0, 5, 10}));
    EXPECT_NEAR(reader.info().fps, 10.0, 1e-6);
    // The ffmpeg CLI sees the same number of frames.
    const auto probe = testing::run(
        "ffprobe -v error -select_streams v:0 -count_frames -show_entries "
        "stream=nb_read_frames,codec_name -of csv=p=0 '" +
        s.path + "'");
    EXPECT_EQ(probe.output, "h264,12\n");
  }
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  testing::TempDir dir("synth_seed");
  synth::Options o;
  o.classes = 2;
  o.videosPerClass = 2;
  o.valFraction = 0.5;
  o.seconds = 1;
  o.fps = 8;
  o.jobs = 2;
  const auto make = [&](const std::string& name, uint64_t seed) {
    o.outDir = (dir.path() / name).string();
    o.seed = seed;
    synth::makeDataset(o);
    return readBytes(dir.path() / name / "videos/class_01/class_01_0001.mp4");
  };
  const auto a = make("a", 1);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, make("b", 1));
  EXPECT_NE(a, make("c", 2));
}

TEST(Synth, ClassesDifferInAppearanceVideosDifferInDetail) {
  const auto a0 = synth::makeVideoSpec(0, 10, 0, 1, 160, 120);
  const auto a1 = synth::makeVideoSpec(0, 10, 1, 1, 160, 120);
  const auto b0 = synth::makeVideoSpec(1, 10, 0, 1, 160, 120);
  EXPECT_EQ(a0.shape, a1.shape);
  EXPECT_NE(a0.shape, b0.shape);
  EXPECT_NE(a0.start, a1.start);  // per-video variation
  const cv::Mat f0 = synth::renderFrame(a0, 0);
  const cv::Mat f5 = synth::renderFrame(a0, 5);
  EXPECT_EQ(f0.size(), cv::Size(160, 120));
  EXPECT_GT(cv::norm(f0, f5, cv::NORM_L1), 0);  // it moves
}

}  // namespace
}  // namespace tsn
