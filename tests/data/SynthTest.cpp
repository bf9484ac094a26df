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

TEST(Synth, BytesDependOnTheSeedAloneNotOnSetSizeOrJobs) {
  // tools/data/make_synthetic.sh's frames, in a set of 10 x 12 videos on 2 threads and one of 10 x
  // 11 on 1 thread: every video both sets hold must be the same file, byte for byte. (Before x264's
  // lookahead thread and macroblock tree were turned off, 29 of 110 differed.)
  testing::TempDir dir("synth_bytes");
  synth::Options o;
  o.classes = 10;
  o.valFraction = 0.2;
  o.width = 160;
  o.height = 120;
  o.fps = 25;
  o.seconds = 3;
  o.gop = 25;
  o.seed = 1;
  const auto make = [&](const std::string& name, int videosPerClass, int jobs) {
    o.outDir = (dir.path() / name).string();
    o.videosPerClass = videosPerClass;
    o.jobs = jobs;
    synth::makeDataset(o);
    return dir.path() / name;
  };
  const auto larger = make("larger", 12, 2);
  const auto smaller = make("smaller", 11, 1);
  int compared = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(smaller / "videos")) {
    if (!entry.is_regular_file()) continue;
    const auto relative = std::filesystem::relative(entry.path(), smaller);
    EXPECT_EQ(readBytes(entry.path()), readBytes(larger / relative)) << relative;
    ++compared;
  }
  EXPECT_EQ(compared, 110);
  o.videosPerClass = 2;
  o.classes = 2;
  o.outDir = (dir.path() / "other_seed").string();
  o.seed = 2;
  synth::makeDataset(o);
  EXPECT_NE(readBytes(dir.path() / "other_seed/videos/class_01/class_01_0001.mp4"),
            readBytes(smaller / "videos/class_01/class_01_0001.mp4"));
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
