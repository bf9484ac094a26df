#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <fstream>
#include <numeric>
#include <set>
#include <thread>

#include "common/Error.h"
#include "data/LoaderFixture.h"
#include "video/FrameShards.h"
#include "video/VideoReader.h"
#include "video/VideoTestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

TEST_F(LoaderTest, BatchCountMatchesTheShardOnEveryRank) {
  auto dataset = std::make_shared<ClipDataset>(samples(), model(), data(), true);  // 9 videos
  for (const bool pad : {true, false}) {
    for (int world : {1, 2, 3, 4}) {
      for (int rank = 0; rank < world; ++rank) {
        LoaderOptions o;
        o.batchSize = 2;
        o.rank = rank;
        o.worldSize = world;
        o.padToEqualShards = pad;
        const ClipLoader loader(dataset, o);
        const auto shard = shardIndices(9, rank, world, 0, 0, false, pad);
        EXPECT_EQ(loader.batchesPerEpoch(), (static_cast<int64_t>(shard.size()) + 1) / 2)
            << "rank " << rank << " of " << world << " pad " << pad;
      }
    }
  }
}

TEST_F(LoaderTest, BatchesHaveTheDocumentedLayout) {
  const auto batches = epoch(samples(), true, 2);
  ASSERT_EQ(batches.size(), 3u);  // 9 training videos, batch 4
  EXPECT_EQ(batches[0].clips.sizes(), (std::vector<int64_t>{4, 3, 3, 32, 32}));
  EXPECT_EQ(batches[2].clips.size(0), 1);
  EXPECT_EQ(batches[0].labels.scalar_type(), torch::kInt64);
  std::set<int64_t> seen;
  for (const auto& b : batches) seen.insert(b.sampleIds.begin(), b.sampleIds.end());
  EXPECT_EQ(seen.size(), 9u);  // every sample once per epoch
  EXPECT_EQ(lastStats_.loaded, 9);
  EXPECT_EQ(lastStats_.failed, 0);
}

TEST_F(LoaderTest, SameBatchesWhateverTheNumberOfWorkers) {
  const auto inline0 = epoch(samples(), true, 0);
  const auto threaded = epoch(samples(), true, 3);
  ASSERT_EQ(inline0.size(), threaded.size());
  for (size_t i = 0; i < inline0.size(); ++i) {
    EXPECT_EQ(inline0[i].sampleIds, threaded[i].sampleIds);
    EXPECT_TRUE(torch::equal(inline0[i].clips, threaded[i].clips)) << "batch " << i;
    EXPECT_TRUE(torch::equal(inline0[i].labels, threaded[i].labels));
  }
}

TEST_F(LoaderTest, RanksDrawIndependentlyAndEachSlotAsOneRankWould) {
  // One video listed 8 times: clips differ only by their random offsets, crops and flips.
  const std::vector<VideoSample> same(8, samples()[0]);
  const auto firstBatch = [&](int rank, int world, int64_t batchSize) {
    LoaderOptions o;
    o.rank = rank;
    o.worldSize = world;
    return epoch(same, true, 0, o, batchSize).front();
  };
  const Batch single = firstBatch(0, 1, 4);
  const Batch rank0 = firstBatch(0, 2, 2), rank1 = firstBatch(1, 2, 2);
  EXPECT_FALSE(torch::equal(rank0.clips[0], rank1.clips[0])) << "both ranks drew the same";
  EXPECT_FALSE(torch::equal(rank0.clips[1], rank1.clips[1]));
  // Rank r of 2 holds the epoch's slots r, r + 2, ...: 2 ranks x 2 clips are the 4 clips of one
  // rank with batch 4, augmentation included.
  EXPECT_TRUE(torch::equal(rank0.clips[0], single.clips[0]));
  EXPECT_TRUE(torch::equal(rank1.clips[0], single.clips[1]));
  EXPECT_TRUE(torch::equal(rank0.clips[1], single.clips[2]));
  EXPECT_TRUE(torch::equal(rank1.clips[1], single.clips[3]));
}

TEST_F(LoaderTest, EvaluationIsDeterministicAndUnshuffled) {
  const auto a = epoch(samples("val.list"), false, 2);
  const auto b = epoch(samples("val.list"), false, 1);
  ASSERT_EQ(a.size(), 1u);  // 3 val videos
  EXPECT_EQ(a[0].sampleIds, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(torch::equal(a[0].clips, b[0].clips));
}

TEST_F(LoaderTest, RawframesDirectoriesLoadLikeTheirVideos) {
  // Frames of one video written as MMAction2 rawframes (img_00001.jpg is frame 0).
  testing::TempDir raw("loader_rawframes");
  const auto video = samples("val.list")[0];
  VideoReader reader(video.path);
  std::vector<int64_t> all(reader.info().numFrames);
  std::iota(all.begin(), all.end(), 0);
  const auto frames = reader.decode(all, 0);
  std::filesystem::create_directories(raw.path() / "clip");
  for (size_t i = 0; i < frames.size(); ++i) {
    cv::Mat bgr;
    cv::cvtColor(frames[i], bgr, cv::COLOR_RGB2BGR);
    cv::imwrite((raw.path() / "clip" / fmt::format("img_{:05d}.jpg", i + 1)).string(), bgr,
                {cv::IMWRITE_JPEG_QUALITY, 98});
  }
  testing::writeFile(raw.path() / "raw.list",
                     fmt::format("clip {} {}\n", frames.size(), video.label));

  DataConfig d = data();
  d.format = DataFormat::Rawframes;
  d.root = raw.str();
  auto rawSamples =
      readFileList((raw.path() / "raw.list").string(), DataFormat::Rawframes, raw.str(), 3);
  const Clip fromJpeg = ClipDataset(rawSamples, model(), d, false).load(0, 0);
  const Clip fromVideo = ClipDataset({video}, model(), data(), false).load(0, 0);
  EXPECT_EQ(fromJpeg.label, fromVideo.label);
  ASSERT_EQ(fromJpeg.frames.sizes(), fromVideo.frames.sizes());
  // Same frames up to JPEG loss (normalised units: std ~0.22 per 1.0 of pixel range).
  EXPECT_LT((fromJpeg.frames - fromVideo.frames).abs().mean().item<double>(), 0.05);

  std::filesystem::remove(raw.path() / "clip" / "img_00006.jpg");  // frame 5: a segment centre
  testing::writeFile(raw.path() / "raw.list", "clip 30 0\n");
  rawSamples =
      readFileList((raw.path() / "raw.list").string(), DataFormat::Rawframes, raw.str(), 3);
  EXPECT_THAT([&] { ClipDataset(rawSamples, model(), d, false).load(0, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("img_00006.jpg: No such file")));
}

TEST_F(LoaderTest, ShardsLoadLikeTheirVideosAndDamageIsCountedOrRefused) {
  // The validation videos packed into one shard (frames at native size, JPEG quality 95).
  testing::TempDir packed("loader_shards");
  const auto videos = samples("val.list");
  const std::string shard = (packed.path() / "shard-00000.tar").string();
  {
    shards::ShardWriter writer(shard);
    for (size_t v = 0; v < videos.size(); ++v) {
      VideoReader reader(videos[v].path);
      std::vector<int64_t> all(reader.info().numFrames);
      std::iota(all.begin(), all.end(), 0);
      writer.beginVideo(fmt::format("v{}", v), videos[v].path, videos[v].label, 10);
      for (const auto& rgb : reader.decode(all, 0)) {
        cv::Mat bgr;
        cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
        std::vector<uint8_t> jpeg;
        cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95});
        writer.addFrame(jpeg);
      }
    }
    writer.finish();
  }
  shards::writeManifest(packed.str(), {"shard-00000.tar"}, {}, "test");
  const std::string manifest = (packed.path() / "manifest.json").string();
  DataConfig d = data();
  d.format = DataFormat::Shards;
  const auto packedSamples = readFileList(manifest, DataFormat::Shards, "", 3);
  ASSERT_EQ(packedSamples.size(), videos.size());
  for (size_t v = 0; v < videos.size(); ++v) {
    EXPECT_EQ(packedSamples[v].label, videos[v].label);
    const Clip fromShard = ClipDataset(packedSamples, model(), d, false).load(v, 0);
    const Clip fromVideo = ClipDataset(videos, model(), data(), false).load(v, 0);
    ASSERT_EQ(fromShard.frames.sizes(), fromVideo.frames.sizes());
    // Same frames up to JPEG loss (normalised units: std ~0.22 per 1.0 of pixel range).
    EXPECT_LT((fromShard.frames - fromVideo.frames).abs().mean().item<double>(), 0.05);
  }
  // The same batches through the loader, with no bad sample.
  epoch(packedSamples, false, 2, {}, 4, d);
  EXPECT_EQ(lastStats_.failed, 0);

  // A damaged frame (a segment centre of video 0) is a bad sample naming shard, video, frame.
  const auto& frame = packedSamples[0].packed->frames[5];
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(frame.offset + frame.size / 2));
    f.put('\x33');
  }
  EXPECT_THAT([&] { ClipDataset(packedSamples, model(), d, false).load(0, 0); },
              ::testing::ThrowsMessage<Error>(
                  HasSubstr(shard + ": video v0 (" + videos[0].path + ") frame 5: damaged")));
  epoch(packedSamples, false, 2, {}, 4, d);
  EXPECT_EQ(lastStats_.failuresByReason["invalid data"], 1);
  // A truncated shard is refused when the list is read, before anything trains.
  std::filesystem::resize_file(shard, std::filesystem::file_size(shard) - 512);
  EXPECT_THAT([&] { readFileList(manifest, DataFormat::Shards, "", 3); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr(shard)));
}

TEST_F(LoaderTest, ASlowConsumerKeepsMemoryBounded) {
  // 24 clips in batches of 1: fast workers would finish everything if nothing held them back.
  auto list = samples();
  const auto more = samples();
  list.insert(list.end(), more.begin(), more.end());
  list.insert(list.end(), more.begin(), more.end());
  auto dataset = std::make_shared<ClipDataset>(list, model(), data(), true);
  LoaderOptions o;
  o.batchSize = 1;
  o.workers = 3;
  o.prefetch = 2;
  o.shuffle = true;
  ClipLoader loader(dataset, o);
  loader.startEpoch(0);
  int batches = 0;
  while (auto b = loader.next()) {
    ++batches;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  EXPECT_EQ(batches, 27);
  EXPECT_GE(loader.stats().peakReadyBatches, 1);
  EXPECT_LE(loader.stats().peakReadyBatches, o.prefetch + o.workers);
}

// Each clip is transformed straight into its row of the batch: a batch of 4 holds, row for row,
// the clips that batches of 1 hold (a slot draws the same whatever the batch size).
TEST_F(LoaderTest, BatchRowsAreTheClipsOfBatchesOfOne) {
  auto dataset = std::make_shared<ClipDataset>(samples(), model(), data(), true);
  const auto epochOf = [&](int64_t batchSize) {
    LoaderOptions o;
    o.batchSize = batchSize;
    o.shuffle = true;
    o.seed = 7;
    ClipLoader loader(dataset, o);
    loader.startEpoch(1);
    std::vector<Batch> batches;
    while (auto b = loader.next()) batches.push_back(std::move(*b));
    return batches;
  };
  const auto fours = epochOf(4);
  const auto ones = epochOf(1);
  ASSERT_EQ(ones.size(), 9u);
  ASSERT_EQ(fours.size(), 3u);
  for (size_t i = 0; i < ones.size(); ++i) {
    const Batch& four = fours[i / 4];
    const auto row = static_cast<int64_t>(i % 4);
    ASSERT_TRUE(four.clips.is_contiguous());
    EXPECT_EQ(four.sampleIds[row], ones[i].sampleIds[0]);
    EXPECT_EQ(four.labels[row].item<int64_t>(), ones[i].labels[0].item<int64_t>());
    EXPECT_TRUE(torch::equal(four.clips[row], ones[i].clips[0])) << "clip " << i;
  }
}

// data.skip_loop_filter changes what training decodes, never what evaluation decodes.
TEST_F(LoaderTest, SkippingTheLoopFilterAppliesToTrainingOnly) {
  DataConfig fast = data();
  fast.skipLoopFilter = true;
  const ClipDataset exactEval(samples("val.list"), model(), data(), false);
  const ClipDataset fastEval(samples("val.list"), model(), fast, false);
  EXPECT_TRUE(torch::equal(exactEval.load(0, 0).frames, fastEval.load(0, 0).frames));
  const ClipDataset exactTrain(samples(), model(), data(), true);
  const ClipDataset fastTrain(samples(), model(), fast, true);
  bool differs = false;
  for (size_t i = 0; i < 3 && !differs; ++i) {
    const auto a = exactTrain.load(i, 11).frames;
    const auto b = fastTrain.load(i, 11).frames;
    ASSERT_EQ(a.sizes(), b.sizes());
    differs = !torch::equal(a, b);
  }
  EXPECT_TRUE(differs) << "training frames decoded without the loop filter equal the exact ones";
}

TEST_F(LoaderTest, EvaluationClipsAndCropsStackAlongTime) {
  auto dataset = std::make_shared<ClipDataset>(samples("val.list"), model(), data(), false, 2, 10);
  EXPECT_EQ(dataset->framesPerClip(), 3 * 2 * 10);
  const Clip clip = dataset->load(0, 0);
  EXPECT_EQ(clip.frames.sizes(), (std::vector<int64_t>{60, 3, 32, 32}));
  // Crop 5 is crop 0 mirrored.
  EXPECT_TRUE(torch::equal(clip.frames[0], clip.frames[5 * 6].flip({2})));
}

TEST_F(LoaderTest, FixedFourThreeResizeIgnoresTheAspect) {
  DataConfig d = data();
  d.resize = ResizeMode::Fixed43;
  d.shortSize = 48;
  d.targetSize = 48;
  // The frame is 64x48 after the resize, so a centre crop of 48 starts at x = 8.
  ClipDataset fixed(samples("val.list"), model(), d, false);
  d.resize = ResizeMode::ShortSide;
  ClipDataset kept(samples("val.list"), model(), d, false);  // 160x120 -> 64x48 as well
  EXPECT_TRUE(torch::allclose(fixed.load(0, 0).frames, kept.load(0, 0).frames, 1e-5, 1e-5));
}

TEST_F(LoaderTest, BadVideosAreReplacedInTrainingAndCountedByReason) {
  testing::TempDir bad("loader_bad");
  auto list = samples();
  const auto addBad = [&](const std::string& name, const std::string& bytes) {
    testing::writeFile(bad.path() / name, bytes);
    list.push_back({(bad.path() / name).string(), 0, -1});
  };
  addBad("empty.mp4", "");
  addBad("text.mp4", "not a video at all\n");
  {  // a truncated copy of a real video
    std::ifstream in(list[0].path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    addBad("truncated.mp4", bytes.substr(0, bytes.size() / 3));
  }
  list.push_back({(bad.path() / "missing.mp4").string(), 0, -1});

  LoaderOptions o;
  const auto batches = epoch(list, true, 2, o);
  int64_t clips = 0;
  for (const auto& b : batches) clips += b.clips.size(0);
  EXPECT_EQ(clips, 13);  // every position filled, with replacements
  EXPECT_GE(lastStats_.failed, 4);
  EXPECT_EQ(lastStats_.failuresByReason.count("missing file"), 1u);
  int64_t byReason = 0;
  for (const auto& [reason, n] : lastStats_.failuresByReason) byReason += n;
  EXPECT_EQ(byReason, lastStats_.failed);

  // In evaluation nothing is replaced: bad videos are dropped and counted.
  const auto evalBatches = epoch(list, false, 2, o);
  int64_t evalClips = 0;
  for (const auto& b : evalBatches) evalClips += b.clips.size(0);
  EXPECT_EQ(lastStats_.dropped, lastStats_.failed);
  EXPECT_EQ(evalClips + lastStats_.dropped, 13);
}

TEST_F(LoaderTest, ClipsCutBetweenKeyframesTrainWithoutABadSample) {
  // Stream-copy cuts that start before their first keyframe, in each container, with and
  // without B-frames, H.264 and HEVC, and one with cover art stored before the video.
  testing::TempDir cuts("loader_cuts");
  const auto h264 = (cuts.path() / "h264.mp4").string();
  const auto hevc = (cuts.path() / "hevc.mp4").string();
  testing::cliVideo(h264, "-c:v libx264 -bf 3 -g 50 -pix_fmt yuv420p", 100);
  testing::cliVideo(hevc,
                    "-c:v libx265 -x265-params log-level=error:keyint=25:min-keyint=25:bframes=3 "
                    "-pix_fmt yuv420p",
                    100);
  std::vector<VideoSample> list;
  int64_t label = 0;
  for (const auto& [source, clip] :
       {std::pair{h264, "a.mp4"}, std::pair{h264, "b.mkv"}, std::pair{h264, "c.ts"},
        std::pair{hevc, "d.mkv"}, std::pair{hevc, "e.ts"}}) {
    const auto path = (cuts.path() / clip).string();
    testing::cutByStreamCopy(source, path, 0.7);
    list.push_back({path, label++ % 3, -1});
  }
  const auto cover = (cuts.path() / "cover.jpg").string();
  const auto withCover = (cuts.path() / "f.mp4").string();
  testing::cliVideo(cover, "", 1, "300x300");
  const auto muxed = testing::run(fmt::format(
      "ffmpeg -v error -y -i '{}' -i '{}' -map 0 -map 1 -c copy -disposition:1 attached_pic '{}'",
      list[0].path, cover, withCover));
  ASSERT_EQ(muxed.exitCode, 0) << muxed.output;
  testing::moveUdtaBeforeTracks(withCover);
  list.push_back({withCover, 2, -1});

  const auto batches = epoch(list, true, 2, {}, 2);
  int64_t clips = 0;
  for (const auto& b : batches) clips += b.clips.size(0);
  EXPECT_EQ(clips, 6);
  EXPECT_EQ(lastStats_.failed, 0);
  EXPECT_TRUE(lastStats_.failuresByReason.empty());
  const auto evalBatches = epoch(list, false, 2, {}, 2);
  EXPECT_EQ(lastStats_.failed, 0);
  EXPECT_EQ(lastStats_.dropped, 0);
}

TEST_F(LoaderTest, TooManyBadVideosStopTheEpochWithAClearError) {
  auto list = samples();
  list.push_back({"/no/such/video.mp4", 0, -1});
  LoaderOptions o;
  o.maxBadFraction = 0.0;
  EXPECT_THAT([&] { epoch(list, false, 2, o); },
              ::testing::ThrowsMessage<Error>(HasSubstr("more than data.max_bad_fraction=0")));
}

TEST_F(LoaderTest, AWorkerExceptionReachesTheConsumer) {
  // Every video is missing: a training sample exhausts its replacements and the worker's
  // exception must surface in next() instead of hanging the consumer.
  std::vector<VideoSample> list = {{"/no/a.mp4", 0, -1}, {"/no/b.mp4", 1, -1}};
  EXPECT_THAT([&] { epoch(list, true, 2); },
              ::testing::ThrowsMessage<Error>(HasSubstr("replacements failed to load")));
  EXPECT_THAT([&] { epoch(list, true, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("replacements failed to load")));
}

}  // namespace
}  // namespace tsn
