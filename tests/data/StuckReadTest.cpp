// A read that never returns (a file on a stalled file system) must not stop the loader, and a
// stop signal must end the wait for data even then.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "common/AbandonableThread.h"
#include "data/LoaderFixture.h"
#include "video/AvError.h"

namespace tsn {
namespace {

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
  DecodedClip read(size_t index, uint64_t seed) const override {
    if (static_cast<int64_t>(index) != stuck_) return ClipDataset::read(index, seed);
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
  DecodedClip read(size_t index, uint64_t seed) const override {
    if (static_cast<int64_t>(index) == failing_) {
      throw VideoError(VideoFailure::Timeout, "fails at once");
    }
    return ClipDataset::read(index, seed);
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
  EXPECT_EQ(loader.stats().failuresByReason, reference.stats().failuresByReason);
  EXPECT_GE(loader.stats().failuresByReason.at("timed out"), 1);
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
  EXPECT_EQ(gate->entered.load(), 1);  // never read again
  EXPECT_EQ(loader.stats().failuresByReason, reference.stats().failuresByReason);
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
