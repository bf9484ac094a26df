// tsn_pack: a file list into frame shards, the same bytes however it is run, resumable, bad
// videos skipped, --verify finding damage.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <opencv2/core.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "data/FileList.h"
#include "support/CliTest.h"
#include "video/FrameShards.h"
#include "video/VideoReader.h"

namespace tsn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class PackCli : public testing::CliTest {
 protected:
  PackCli() : CliTest("pack", 2, 4, 30, 10) {}

  /// tsn_pack of train.list into `out` with `args`, frames at short side `shortSide`.
  testing::CommandResult pack(const fs::path& out, const std::string& args,
                              int shortSide = 60) const {
    return testing::run(fmt::format("{} --list {} --root {} --out {} --short-side {} {}",
                                    testing::binary("tsn_pack"), (data_ / "train.list").string(),
                                    data_.string(), out.string(), shortSide, args));
  }

  static std::string bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  /// Every file of `dir` (shards, indexes, summaries, manifest) by name.
  static std::map<std::string, std::string> files(const fs::path& dir) {
    std::map<std::string, std::string> all;
    for (const auto& e : fs::directory_iterator(dir)) all[e.path().filename()] = bytes(e.path());
    return all;
  }
};

TEST_F(PackCli, FramesAreTheSparseReadersAndTheManifestListsEveryShard) {
  const fs::path out = dir_->path() / "packed";
  // At the videos' own size (120 rows), the default quality.
  const auto r = pack(out, "--videos-per-shard 3 --threads 2", 120);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto manifest = nlohmann::json::parse(std::ifstream(out / "manifest.json"));
  const auto listed =
      readFileList((data_ / "train.list").string(), DataFormat::Video, data_.string(), 2);
  EXPECT_EQ(manifest["videos"], listed.size());
  EXPECT_EQ(manifest["skipped"], 0);
  EXPECT_EQ(manifest["shards"].size(), (listed.size() + 2) / 3);
  EXPECT_EQ(manifest["options"]["quality"], 90);
  EXPECT_EQ(manifest["tool"], "tsn_pack 1");
  // The first shard's videos, frame by frame, against the sparse reader scaled the same way.
  const std::string shard = (out / "shard-00000.tar").string();
  const auto index = shards::readIndex(shards::indexPath(shard));
  ASSERT_EQ(index.videos.size(), 3u);
  const auto file = std::make_shared<shards::ShardFile>(shard, index.shardBytes);
  for (size_t v = 0; v < 3; ++v) {
    EXPECT_EQ(index.videos[v].source, listed[v].path);
    EXPECT_EQ(index.videos[v].label, listed[v].label);
    VideoReader reader(listed[v].path);
    shards::ShardVideoReader packed(file, index.videos[v]);
    ASSERT_EQ(packed.numFrames(), reader.numFrames());
    const auto a = reader.decode({0, 13, 29}, 0);
    const auto b = packed.decode({0, 13, 29}, 0);
    for (size_t k = 0; k < 3; ++k) EXPECT_GE(cv::PSNR(a[k], b[k]), 36.0) << v << " " << k;
  }
  const auto verified =
      testing::run(testing::binary("tsn_pack") + " --verify --out " + out.string());
  EXPECT_EQ(verified.exitCode, 0) << verified.output;
  EXPECT_THAT(verified.output,
              HasSubstr(fmt::format("{} shards, 0 bad", manifest["shards"].size())));
}

TEST_F(PackCli, TheSameBytesWhateverTheThreadsAndRanksAndAfterAResume) {
  const fs::path one = dir_->path() / "one", two = dir_->path() / "two";
  ASSERT_EQ(pack(one, "--videos-per-shard 3 --threads 1").exitCode, 0);
  // Two ranks, one after the other: the second sees every shard and writes the manifest.
  const auto rank0 = pack(two, "--videos-per-shard 3 --threads 2 --rank 0 --ranks 2");
  ASSERT_EQ(rank0.exitCode, 0) << rank0.output;
  EXPECT_THAT(rank0.output, HasSubstr("no manifest from this rank"));
  ASSERT_EQ(pack(two, "--videos-per-shard 3 --threads 2 --rank 1 --ranks 2").exitCode, 0);
  EXPECT_EQ(files(one), files(two));

  // A kill mid-shard leaves a temporary file and no shard; the rerun packs only that shard.
  fs::remove(two / "shard-00001.tar");
  std::ofstream(two / "shard-00001.tar.tmp") << "half a shard";
  const auto resumed = pack(two, "--videos-per-shard 3");
  ASSERT_EQ(resumed.exitCode, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("1 to pack here (3 videos)"));
  EXPECT_EQ(files(one), files(two));
}

TEST_F(PackCli, ABadVideoIsSkippedByReasonAndDamageIsFoundByVerify) {
  testing::writeFile(data_ / "broken.mp4", "not a video");
  const fs::path list = dir_->path() / "with_bad.list";
  testing::writeFile(list,
                     "videos/class_00/class_00_0000.mp4 0\nbroken.mp4 1\n"
                     "videos/class_01/class_01_0000.mp4 1\n");
  const fs::path out = dir_->path() / "bad";
  const auto r = testing::run(fmt::format("{} --list {} --root {} --out {} --short-side 60",
                                          testing::binary("tsn_pack"), list.string(),
                                          data_.string(), out.string()));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto manifest = nlohmann::json::parse(std::ifstream(out / "manifest.json"));
  EXPECT_EQ(manifest["videos"], 2);
  EXPECT_EQ(manifest["skipped"], 1);
  const auto& skipped = manifest["shards"][0]["skipped"][0];
  EXPECT_EQ(skipped["source"], (data_ / "broken.mp4").string());
  EXPECT_EQ(skipped["reason"], "invalid data");

  const fs::path shard = out / "shard-00000.tar";
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2000);
    f.put('\x42');
  }
  const auto verified =
      testing::run(testing::binary("tsn_pack") + " --verify --out " + out.string());
  EXPECT_EQ(verified.exitCode, 3) << verified.output;
  EXPECT_THAT(verified.output, HasSubstr(shard.string()));
  EXPECT_THAT(verified.output, HasSubstr("1 bad"));
}

TEST_F(PackCli, SubsamplingKeepsEveryKthFrameOrTheFramesNearestATargetRate) {
  const auto listed =
      readFileList((data_ / "train.list").string(), DataFormat::Video, data_.string(), 2);
  VideoReader reader(listed[0].path);
  const double sourceFps = reader.info().fps;
  const int64_t n = reader.numFrames();
  const double target = sourceFps / 2.5;  // frames 0, 3 (2.5 rounded), 5, 8, 10, ...
  for (const auto& [args, fps] : {std::pair{std::string("--every 3"), sourceFps / 3},
                                  std::pair{fmt::format("--fps {}", target), target}}) {
    const fs::path out = dir_->path() / "sub";
    fs::remove_all(out);
    const auto r = pack(out, "--videos-per-shard 100 " + args, 120);
    ASSERT_EQ(r.exitCode, 0) << args << ": " << r.output;
    const std::string shard = (out / "shard-00000.tar").string();
    const auto index = shards::readIndex(shards::indexPath(shard));
    const auto& video = index.videos.at(0);
    EXPECT_NEAR(video.sourceFps, fps, 1e-9) << args;
    // Frame j of the packed video: the source frame shown nearest to j / fps.
    std::vector<int64_t> expected;
    for (int64_t j = 0;; ++j) {
      const auto i = static_cast<int64_t>(std::llround(j * sourceFps / fps));
      if (i >= n) break;
      expected.push_back(i);
    }
    ASSERT_EQ(static_cast<int64_t>(video.frames.size()), static_cast<int64_t>(expected.size()))
        << args;
    shards::ShardVideoReader packed(std::make_shared<shards::ShardFile>(shard, index.shardBytes),
                                    video);
    for (size_t j = 0; j < expected.size(); ++j) {
      const auto a = reader.decode({expected[j]}, 0);
      const auto b = packed.decode({static_cast<int64_t>(j)}, 0);
      EXPECT_GE(cv::PSNR(a[0], b[0]), 36.0) << args << " frame " << j;
      // Not its neighbour: the frames move (the synthetic set's shapes drift every frame).
      if (expected[j] + 1 < n) {
        EXPECT_GT(cv::PSNR(a[0], b[0]), cv::PSNR(reader.decode({expected[j] + 1}, 0)[0], b[0]))
            << args << " frame " << j;
      }
    }
  }
}

TEST_F(PackCli, BadOptionsAreRefusedBeforeAnyWork) {
  for (const char* args : {"--size 340", "--quality 0", "--every 0", "--rank 2 --ranks 2",
                           "--fps -1", "--fps 5 --every 2"}) {
    const fs::path out = dir_->path() / "refused";
    const auto r = pack(out, args);
    EXPECT_EQ(r.exitCode, 2) << args << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(std::string(args).substr(0, 6))) << args;
    EXPECT_FALSE(fs::exists(out)) << args;
  }
}

}  // namespace
}  // namespace tsn
