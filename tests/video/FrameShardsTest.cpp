// Packed frame shards: the tar, its index and the reader (src/video/FrameShards.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "video/AvError.h"
#include "video/FrameShards.h"
#include "video/Jpeg.h"
#include "video/VideoReader.h"
#include "video/VideoTestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;
using namespace shards;

std::string readBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> jpeg(const cv::Mat& rgb, int quality) {
  std::vector<uint8_t> bytes;
  jpeg::Encoder::forThisThread().encode(rgb, quality, bytes);
  return bytes;
}

/// Two videos of our writer, every frame as the sparse reader returns it, packed at quality 90.
class FrameShards : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>("frame_shards");
    for (const auto& e : {testing::Encoding{"mp4", 10, 2}, testing::Encoding{"mkv", 8, 0}}) {
      const auto video = testing::writeVideo(dir_->path(), e, 24);
      VideoReader reader(video);
      std::vector<int64_t> all(static_cast<size_t>(reader.numFrames()));
      for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
      sources_.push_back(video);
      frames_.push_back(reader.decode(all, 0));
    }
    shard_ = (dir_->path() / "shard-00000.tar").string();
    pack(shard_);
  }

  void pack(const std::string& shard) const {
    ShardWriter writer(shard);
    for (size_t v = 0; v < frames_.size(); ++v) {
      writer.beginVideo(fmt::format("video{:04d}", v), sources_[v], static_cast<int64_t>(v), 25);
      for (const auto& f : frames_[v]) writer.addFrame(jpeg(f, 90));
    }
    writer.finish();
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::vector<std::string> sources_;
  std::vector<std::vector<cv::Mat>> frames_;
  std::string shard_;
};

TEST_F(FrameShards, FramesComeBackAsTheSparseReaderGaveThemUpToJpeg) {
  const ShardIndex index = readIndex(indexPath(shard_));
  ASSERT_EQ(index.videos.size(), 2u);
  EXPECT_EQ(index.shardBytes, std::filesystem::file_size(shard_));
  const auto file = std::make_shared<ShardFile>(shard_, index.shardBytes);
  for (size_t v = 0; v < 2; ++v) {
    EXPECT_EQ(index.videos[v].source, sources_[v]);
    EXPECT_EQ(index.videos[v].label, static_cast<int64_t>(v));
    ShardVideoReader reader(file, index.videos[v]);
    ASSERT_EQ(reader.numFrames(), static_cast<int64_t>(frames_[v].size()));
    const auto packed = reader.decode({0, 7, 23, 7}, 0);
    for (const auto& [k, n] : {std::pair{0, 0}, std::pair{1, 7}, std::pair{2, 23}}) {
      EXPECT_GE(cv::PSNR(packed[k], frames_[v][n]), 36.0) << "video " << v << " frame " << n;
    }
    EXPECT_EQ(cv::norm(packed[1], packed[3], cv::NORM_INF), 0);
    // Scaled as the video path scales: the same size (here reduced while decoding: 160x120 is
    // twice 80x60).
    const auto small = reader.decode({5}, 60);
    EXPECT_EQ(small[0].size(), cv::Size(80, 60));
    EXPECT_EQ(reader.decode({5}, cv::Size(50, 40))[0].size(), cv::Size(50, 40));
  }
}

TEST_F(FrameShards, PythonsTarfileFindsTheBytesTheIndexPointsAt) {
  const ShardIndex index = readIndex(indexPath(shard_));
  std::string expected;  // name offset size, one member a line, in order
  for (const auto& v : index.videos) {
    for (size_t n = 0; n < v.frames.size(); ++n) {
      expected +=
          fmt::format("{}.{:06d}.jpg {} {}\n", v.key, n, v.frames[n].offset, v.frames[n].size);
    }
  }
  const auto r = testing::run(
      fmt::format("python3 -c 'import sys, tarfile\n"
                  "with tarfile.open(sys.argv[1]) as t:\n"
                  "    for m in t.getmembers(): print(m.name, m.offset_data, m.size)' '{}'",
                  shard_));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(r.output, expected);
  const auto listed = testing::run("tar -tf '" + shard_ + "' | head -2");
  EXPECT_EQ(listed.output, "video0000.000000.jpg\nvideo0000.000001.jpg\n");
}

TEST_F(FrameShards, TheSameFramesGiveTheSameBytes) {
  const std::string again = (dir_->path() / "again.tar").string();
  pack(again);
  EXPECT_EQ(readBytes(again), readBytes(shard_));
  EXPECT_EQ(readBytes(indexPath(again)), readBytes(indexPath(shard_)));
}

TEST_F(FrameShards, ADamagedFrameNamesTheShardTheVideoAndTheFrame) {
  const ShardIndex index = readIndex(indexPath(shard_));
  const FrameEntry& f = index.videos[1].frames[3];
  {
    std::fstream file(shard_, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(f.offset + f.size / 2));
    file.put('\x5a');
  }
  ShardVideoReader reader(std::make_shared<ShardFile>(shard_, index.shardBytes), index.videos[1]);
  EXPECT_NO_THROW(reader.decode({2, 4}, 0));
  try {
    reader.decode({3}, 0);
    ADD_FAILURE() << "a damaged frame decoded";
  } catch (const VideoError& e) {
    EXPECT_EQ(e.failure(), VideoFailure::InvalidData);
    EXPECT_THAT(e.what(), HasSubstr(shard_));
    EXPECT_THAT(e.what(), HasSubstr("video video0001 (" + sources_[1] + ") frame 3"));
    EXPECT_THAT(e.what(), HasSubstr("CRC-32C"));
  }
}

TEST_F(FrameShards, ATruncatedShardOrAForeignIndexIsRefusedAtOpen) {
  const ShardIndex index = readIndex(indexPath(shard_));
  std::filesystem::resize_file(shard_, index.shardBytes - 700);
  try {
    ShardFile file(shard_, index.shardBytes);
    ADD_FAILURE() << "opened a truncated shard";
  } catch (const VideoError& e) {
    EXPECT_EQ(e.failure(), VideoFailure::Truncated);
    EXPECT_THAT(e.what(), HasSubstr(shard_));
  }
  EXPECT_THROW(ShardFile((dir_->path() / "none.tar").string(), 0), VideoError);
}

TEST_F(FrameShards, ADamagedOrTruncatedIndexIsRefusedNamingIt) {
  const std::string idx = indexPath(shard_);
  const std::string bytes = readBytes(idx);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 1;
  testing::writeFile(idx, flipped);
  EXPECT_THAT([&] { readIndex(idx); },
              ::testing::ThrowsMessage<VideoError>(HasSubstr(idx + ": shard index damaged")));
  testing::writeFile(idx, bytes.substr(0, bytes.size() - 9));
  EXPECT_THROW(readIndex(idx), VideoError);
  testing::writeFile(idx, "not an index at all");
  EXPECT_THAT([&] { readIndex(idx); },
              ::testing::ThrowsMessage<VideoError>(HasSubstr("not a shard index")));
}

TEST_F(FrameShards, AWriterThatDoesNotFinishLeavesNothing) {
  const std::string shard = (dir_->path() / "unfinished.tar").string();
  {
    ShardWriter writer(shard);
    writer.beginVideo("a", "a.mp4", 0, 25);
    writer.addFrame(jpeg(frames_[0][0], 90));
    EXPECT_TRUE(std::filesystem::exists(shard + ".tmp"));
  }
  EXPECT_FALSE(std::filesystem::exists(shard));
  EXPECT_FALSE(std::filesystem::exists(shard + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(indexPath(shard)));
  ShardWriter writer(shard);
  EXPECT_THROW(writer.beginVideo("a.b", "x", 0, 25), Error);
  EXPECT_THROW(writer.beginVideo("a/b", "x", 0, 25), Error);
}

}  // namespace
}  // namespace tsn
