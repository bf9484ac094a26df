#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/AbandonableThread.h"
#include "common/Error.h"
#include "data/ClipLoader.h"
#include "data/FileList.h"
#include "support/TestSupport.h"
#include "video/AvError.h"
#include "video/VideoReader.h"

#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace tsn {
namespace {

using ::testing::HasSubstr;

TEST(Sharding, TrainingShardsAreEqualCoverEverythingAndAgreeAcrossRanks) {
  for (int world : {1, 2, 3, 8}) {
    std::multiset<int64_t> all;
    size_t size = 0;
    for (int rank = 0; rank < world; ++rank) {
      const auto mine = shardIndices(23, rank, world, 5, 2, true, true);
      if (rank == 0) size = mine.size();
      EXPECT_EQ(mine.size(), size) << "world " << world;  // same count on every rank
      all.insert(mine.begin(), mine.end());
    }
    EXPECT_EQ(size, static_cast<size_t>((23 + world - 1) / world));
    for (int64_t i = 0; i < 23; ++i) EXPECT_GE(all.count(i), 1u) << "sample " << i;
    EXPECT_EQ(all.size(), size * world);  // padding repeats only what it must
  }
}

TEST(Sharding, EvaluationShardsCoverEachSampleExactlyOnce) {
  std::multiset<int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    const auto mine = shardIndices(10, rank, 3, 0, 0, false, false);
    all.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 10u);
}

TEST(Sharding, ShuffleDependsOnSeedAndEpochOnly) {
  EXPECT_EQ(shardIndices(100, 1, 4, 7, 3, true, true), shardIndices(100, 1, 4, 7, 3, true, true));
  EXPECT_NE(shardIndices(100, 0, 1, 7, 3, true, true), shardIndices(100, 0, 1, 7, 4, true, true));
  EXPECT_NE(shardIndices(100, 0, 1, 7, 3, true, true), shardIndices(100, 0, 1, 8, 3, true, true));
  const auto unshuffled = shardIndices(5, 0, 1, 7, 3, false, false);
  EXPECT_EQ(unshuffled, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

class LoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dataDir_ = new testing::TempDir("loader_data");
    testing::syntheticDataset(dataDir_->path(), 3, 4, 30, 10);
  }
  static void TearDownTestSuite() { delete dataDir_; }

  ModelConfig model() const {
    ModelConfig m;
    m.numClasses = 3;
    m.segNum = 3;
    return m;
  }
  DataConfig data() const {
    DataConfig d;
    d.root = dataDir_->str();
    d.shortSize = 40;
    d.targetSize = 32;
    return d;
  }
  std::vector<VideoSample> samples(const std::string& list = "train.list") const {
    return readFileList((dataDir_->path() / list).string(), DataFormat::Video, dataDir_->str(), 3);
  }
  /// Every batch of epoch 1, seed 11 (rank and world as `o` says).
  std::vector<Batch> epoch(std::vector<VideoSample> s, bool training, int workers,
                           LoaderOptions o = {}, int64_t batchSize = 4) const {
    auto dataset = std::make_shared<ClipDataset>(std::move(s), model(), data(), training);
    o.batchSize = batchSize;
    o.workers = workers;
    o.shuffle = training;
    o.padToEqualShards = training;
    o.seed = 11;
    ClipLoader loader(dataset, o);
    loader.startEpoch(1);
    std::vector<Batch> batches;
    while (auto b = loader.next()) batches.push_back(std::move(*b));
    lastStats_ = loader.stats();
    return batches;
  }

  static testing::TempDir* dataDir_;
  mutable LoaderStats lastStats_;
};
testing::TempDir* LoaderTest::dataDir_ = nullptr;

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

/// A storage where one file never answers: load() of `stuck` blocks inside the call (as open()
/// on a stalled network file system does) until the gate opens, then fails. Every other
/// sample loads as usual.
class StuckStorage : public ClipDataset {
 public:
  struct Gate {
    std::mutex mutex;
    std::condition_variable opened;
    bool open = false;
    std::atomic<int> entered{0};
  };
  StuckStorage(std::vector<VideoSample> samples, const ModelConfig& m, const DataConfig& d,
               int64_t stuck, std::shared_ptr<Gate> gate)
      : ClipDataset(std::move(samples), m, d, true), stuck_(stuck), gate_(std::move(gate)) {}
  Clip load(size_t index, uint64_t seed) const override {
    if (static_cast<int64_t>(index) != stuck_) return ClipDataset::load(index, seed);
    ++gate_->entered;
    std::unique_lock lock(gate_->mutex);
    // Bounded, so that a broken loader fails this test instead of hanging it.
    gate_->opened.wait_for(lock, std::chrono::seconds(120), [&] { return gate_->open; });
    throw VideoError(VideoFailure::Other, "woke up late");
  }

 private:
  int64_t stuck_;
  std::shared_ptr<Gate> gate_;
};

/// The same storage where that file fails at once instead: what the loader must make of it.
class FailingStorage : public ClipDataset {
 public:
  FailingStorage(std::vector<VideoSample> samples, const ModelConfig& m, const DataConfig& d,
                 int64_t failing)
      : ClipDataset(std::move(samples), m, d, true), failing_(failing) {}
  Clip load(size_t index, uint64_t seed) const override {
    if (static_cast<int64_t>(index) == failing_) {
      throw VideoError(VideoFailure::Timeout, "fails at once");
    }
    return ClipDataset::load(index, seed);
  }

 private:
  int64_t failing_;
};

std::vector<Batch> wholeEpoch(ClipLoader& loader, int64_t epoch) {
  loader.startEpoch(epoch);
  std::vector<Batch> batches;
  while (auto b = loader.next()) batches.push_back(std::move(*b));
  return batches;
}

void expectSameBatches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].sampleIds, b[i].sampleIds) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].clips, b[i].clips)) << "batch " << i;
  }
}

TEST_F(LoaderTest, AReadStuckInASystemCallIsAbandonedReplacedAndNeverTriedAgain) {
  const int64_t stuck = 5;
  auto gate = std::make_shared<StuckStorage::Gate>();
  LoaderOptions o;
  o.batchSize = 4;
  o.workers = 2;
  o.shuffle = true;
  o.padToEqualShards = true;
  o.seed = 11;
  o.sampleTimeoutS = 0.2;  // given up on 1.2 s after it started
  ClipLoader loader(std::make_shared<StuckStorage>(samples(), model(), data(), stuck, gate), o);
  ClipLoader reference(std::make_shared<FailingStorage>(samples(), model(), data(), stuck), o);
  const int64_t stuckBefore = AbandonableThread::stuckThreads();

  // The epoch finishes, with the stuck sample replaced just as one that fails at once is.
  expectSameBatches(wholeEpoch(loader, 1), wholeEpoch(reference, 1));
  EXPECT_EQ(loader.stats().failuresByReason.at("timed out"), 1);
  EXPECT_EQ(gate->entered.load(), 1);
  EXPECT_EQ(AbandonableThread::stuckThreads(), stuckBefore + 1);

  // The next epoch does not wait for it again; the abandoned thread waking up meanwhile (its
  // read finishing) changes no batch.
  loader.startEpoch(2);
  reference.startEpoch(2);
  std::vector<Batch> got, want;
  while (auto b = loader.next()) {
    if (got.empty()) {
      std::lock_guard lock(gate->mutex);
      gate->open = true;
      gate->opened.notify_all();
    }
    got.push_back(std::move(*b));
  }
  while (auto b = reference.next()) want.push_back(std::move(*b));
  expectSameBatches(got, want);
  EXPECT_EQ(gate->entered.load(), 1);
  EXPECT_EQ(loader.stats().failuresByReason.at("timed out"), 1);
  for (int i = 0; i < 100 && AbandonableThread::stuckThreads() > stuckBefore; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(AbandonableThread::stuckThreads(), stuckBefore);  // it has left
}

TEST_F(LoaderTest, AStopFlagEndsTheWaitForDataEvenWithAReadStuck) {
  for (const int workers : {0, 2}) {
    auto gate = std::make_shared<StuckStorage::Gate>();
    LoaderOptions o;
    o.batchSize = 4;
    o.workers = workers;
    o.sampleTimeoutS = 600;  // would hold the batch for ten minutes
    std::atomic<int> stop{0};
    // Sample 0 is in the first batch (no shuffle).
    ClipLoader loader(std::make_shared<StuckStorage>(samples(), model(), data(), 0, gate), o);
    loader.setStopFlag(&stop);
    loader.startEpoch(0);
    auto next = std::async(std::launch::async, [&] { return loader.next(); });
    while (gate->entered.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(next.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
    stop = 15;  // SIGTERM
    ASSERT_EQ(next.wait_for(std::chrono::seconds(30)), std::future_status::ready)
        << "next() still waits for a stuck read after the stop flag (workers " << workers << ")";
    EXPECT_FALSE(next.get().has_value());
    EXPECT_TRUE(loader.interrupted());
    std::lock_guard lock(gate->mutex);
    gate->open = true;
    gate->opened.notify_all();
  }
}

}  // namespace
}  // namespace tsn
