#include "data/ClipLoader.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>

#include "common/AbandonableThread.h"
#include "common/Error.h"
#include "common/Logging.h"
#include "common/Random.h"
#include "common/StageClock.h"
#include "common/Stopwatch.h"
#include "data/FileList.h"
#include "video/AvError.h"

namespace tsn {
namespace {

/// More reads stuck than the process tolerates: not one bad video but the storage.
class StalledStorage : public Error {
 public:
  using Error::Error;
};

}  // namespace

std::vector<int64_t> shardIndices(int64_t n, int rank, int worldSize, uint64_t seed, int64_t epoch,
                                  bool shuffle, bool padToEqualShards) {
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  if (shuffle) {
    std::mt19937_64 rng(mixSeed(seed, static_cast<uint64_t>(epoch)));
    std::shuffle(all.begin(), all.end(), rng);
  }
  if (padToEqualShards && n % worldSize != 0) {
    // Repeat from the start so every rank gets ceil(n / world) samples.
    const int64_t padded = (n + worldSize - 1) / worldSize * worldSize;
    for (int64_t i = n; i < padded; ++i) all.push_back(all[(i - n) % n]);
  }
  std::vector<int64_t> mine;
  for (size_t i = rank; i < all.size(); i += worldSize) mine.push_back(all[i]);
  return mine;
}

ClipLoader::ClipLoader(std::shared_ptr<const ClipDataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)),
      options_(options),
      inlineReader_(std::make_unique<AbandonableThread>()) {
  TSN_CHECK(options_.batchSize >= 1, "batch size must be >= 1");
  TSN_CHECK(options_.rank >= 0 && options_.rank < options_.worldSize, "rank {} outside world of {}",
            options_.rank, options_.worldSize);
}

ClipLoader::~ClipLoader() {
  stopWorkers();
}

int64_t ClipLoader::batchesPerEpoch() const {
  // Rank r of w holds samples r, r + w, ... of the (padded) epoch order.
  const auto n = static_cast<int64_t>(dataset_->size());
  const int64_t world = options_.worldSize;
  const int64_t total = options_.padToEqualShards ? (n + world - 1) / world * world : n;
  const int64_t mine = (total - options_.rank + world - 1) / world;
  return (mine + options_.batchSize - 1) / options_.batchSize;
}

LoaderStats ClipLoader::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void ClipLoader::stopWorkers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ClipLoader::startEpoch(int64_t epoch, int64_t firstBatch) {
  stopWorkers();
  epoch_ = epoch;
  order_ = shardIndices(dataset_->size(), options_.rank, options_.worldSize, options_.seed, epoch,
                        options_.shuffle, options_.padToEqualShards);
  {
    std::lock_guard lock(mutex_);
    ready_.clear();
    nextToClaim_ = std::clamp<int64_t>(firstBatch, 0, batchesPerEpoch());
    nextToHand_ = nextToClaim_;
    stopping_ = false;
    error_ = nullptr;
    stats_ = LoaderStats{};
  }
  for (int64_t w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { workerLoop(); });
}

DecodedClip ClipLoader::loadBounded(int64_t index, uint64_t seed, AbandonableThread& reader) {
  const std::string& path = dataset_->samples().at(static_cast<size_t>(index)).path;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = abandoned_.find(index); it != abandoned_.end()) {
      throw VideoError(VideoFailure::Timeout, it->second + " (not tried again in this run)");
    }
  }
  // The reader's own deadline (data.decode_timeout_s, inside FFmpeg's calls) ends a slow read
  // cleanly; a second more means the thread is stuck where no deadline reaches.
  const double limit = options_.sampleTimeoutS > 0 ? options_.sampleTimeoutS + 1.0 : 0.0;
  AbandonableThread::Outcome outcome{};
  auto clip = reader.call<DecodedClip>(
      [dataset = dataset_, index, seed] { return dataset->read(static_cast<size_t>(index), seed); },
      limit,
      [this] {
        std::lock_guard lock(mutex_);
        return stopping_ || stopFlagSet();
      },
      &outcome);
  if (outcome == AbandonableThread::Outcome::Cancelled) throw Abandoned{};
  if (outcome == AbandonableThread::Outcome::TimedOut) {
    const std::string message = fmt::format(
        "{}: not read within data.decode_timeout_s={} s; its reading thread is stuck (a stalled "
        "file system, or a file that blocks) and was abandoned",
        path, options_.sampleTimeoutS);
    const int64_t stuck = AbandonableThread::stuckThreads();
    {
      std::lock_guard lock(mutex_);
      abandoned_.emplace(index, message);
    }
    if (stuck > kMaxStuckThreads) {
      throw StalledStorage(fmt::format(
          "{} reads are stuck in system calls, the last on {}: the storage the videos are on "
          "may be stalled; stopping instead of abandoning more threads",
          stuck, path));
    }
    throw VideoError(VideoFailure::Timeout, message);
  }
  return std::move(*clip);
}

std::optional<DecodedClip> ClipLoader::loadWithRetries(int64_t position, int64_t sampleIndex,
                                                       int64_t* usedIndex,
                                                       AbandonableThread& reader) {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  const int attempts = dataset_->training() ? options_.maxRetries + 1 : 1;
  int64_t index = sampleIndex;
  std::string lastError;
  // The sample's slot in the epoch's order over all ranks (rank r holds slots r, r + w, ...):
  // ranks draw independently, and a slot draws the same whatever the number of ranks.
  const auto slot = static_cast<uint64_t>(position * options_.worldSize + options_.rank);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const uint64_t seed = mixSeed(mixSeed(options_.seed, static_cast<uint64_t>(epoch_)),
                                  slot * 64 + static_cast<uint64_t>(attempt));
    try {
      DecodedClip clip = loadBounded(index, seed, reader);
      *usedIndex = index;
      std::lock_guard lock(mutex_);
      ++stats_.loaded;
      return clip;
    } catch (const StalledStorage&) {
      throw;
    } catch (const std::exception& e) {
      lastError = e.what();
      logging::get("data")->warn("skipping sample {}: {}", index, lastError);
      {
        std::lock_guard lock(mutex_);
        ++stats_.failed;
        ++stats_.failuresByReason[failureReason(e)];
      }
      // A replacement drawn from the sample's slot and the attempt (the same on every run),
      // never the sample that just failed.
      if (n > 1) {
        const auto step = deriveSeed(options_.seed, epoch_, slot, attempt) % (n - 1);
        index = (index + 1 + static_cast<int64_t>(step)) % n;
      }
    }
  }
  if (dataset_->training()) {
    throw Error(fmt::format("sample {} and {} replacements failed to load; last error: {}",
                            sampleIndex, options_.maxRetries, lastError));
  }
  std::lock_guard lock(mutex_);
  ++stats_.dropped;
  stats_.droppedSamples.emplace_back(sampleIndex, lastError);
  return std::nullopt;
}

torch::Tensor ClipLoader::batchBuffer(const std::vector<int64_t>& shape) {
  // Page-locked batches come from LibTorch's caching host allocator, which reuses its blocks
  // only once the copies that read them are done: those are never recycled here.
  const auto dtype = options_.uint8Clips ? torch::kUInt8 : torch::kFloat32;
  if (options_.pinMemory) {
    return torch::empty(shape, torch::TensorOptions().dtype(dtype).pinned_memory(true));
  }
  // A fresh 50 MB batch costs its page faults on first write (a quarter of the CPU of a loader
  // reading JPEG frames): reuse a buffer whose storage only this list still holds (the batch and
  // its views are gone, and no worker is about to take a view of it: the list's tensor is the
  // only handle). At most one per batch that can be alive: in flight, ready, held.
  const std::lock_guard lock(mutex_);
  for (auto& b : buffers_) {
    if (b.use_count() == 1 && b.storage().use_count() == 1) return b;
  }
  auto fresh = torch::empty(shape, dtype);
  if (static_cast<int64_t>(buffers_.size()) < options_.prefetch + options_.workers + 2) {
    buffers_.push_back(fresh);
  }
  return fresh;
}

Batch ClipLoader::buildBatch(int64_t batchIndex, AbandonableThread& reader) {
  const int64_t begin = batchIndex * options_.batchSize;
  const int64_t end = std::min<int64_t>(begin + options_.batchSize, order_.size());
  std::vector<int64_t> shape = dataset_->clipShape();
  shape.insert(shape.begin(), options_.batchSize);
  // One buffer per batch (page-locked where batches go to a GPU); each clip is transformed
  // straight into its row, on this thread, once its read has returned.
  Batch batch;
  {
    const StageClock::Scope timed(Stage::Assemble);
    batch.clips = batchBuffer(shape).narrow(0, 0, end - begin);
  }
  std::vector<int64_t> labels;
  for (int64_t position = begin; position < end; ++position) {
    int64_t used = -1;
    if (auto clip = loadWithRetries(position, order_[position], &used, reader)) {
      dataset_->write(*clip, batch.clips[static_cast<int64_t>(labels.size())]);
      labels.push_back(clip->label);
      batch.sampleIds.push_back(used);
    }
  }
  if (labels.empty()) return Batch{};  // an evaluation batch whose every video failed
  const StageClock::Scope timed(Stage::Assemble);
  // Evaluation leaves out samples that failed: the rows written are the first ones.
  batch.clips = batch.clips.narrow(0, 0, static_cast<int64_t>(labels.size()));
  batch.labels = torch::tensor(labels, torch::kInt64);
  if (options_.pinMemory) batch.labels = batch.labels.pin_memory();
  return batch;
}

void ClipLoader::workerLoop() {
  const int64_t total = batchesPerEpoch();
  AbandonableThread reader;
  const int64_t inFlight = options_.prefetch + options_.workers;
  while (true) {
    int64_t mine = -1;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || error_ || nextToClaim_ >= total ||
               nextToClaim_ < nextToHand_ + inFlight;
      });
      if (stopping_ || error_ || nextToClaim_ >= total) return;
      mine = nextToClaim_++;
    }
    try {
      Batch batch = buildBatch(mine, reader);
      std::lock_guard lock(mutex_);
      ready_.emplace(mine, std::move(batch));
      stats_.peakReadyBatches =
          std::max(stats_.peakReadyBatches, static_cast<int64_t>(ready_.size()));
    } catch (const Abandoned&) {
      return;  // the loader stops, or the job was told to
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

std::optional<Batch> ClipLoader::next() {
  const int64_t total = batchesPerEpoch();
  Stopwatch wait;
  std::optional<Batch> result;
  interrupted_ = false;
  while (!result && !interrupted_) {
    int64_t index = -1;
    {
      std::unique_lock lock(mutex_);
      if (nextToHand_ >= total) break;
      if (stopFlagSet()) {
        interrupted_ = true;
        break;
      }
      if (options_.workers == 0) {
        index = nextToHand_;
      } else {
        // Polled: a stop signal only sets a flag, which no one notifies.
        const bool ready = changed_.wait_for(lock, std::chrono::milliseconds(50), [&] {
          return error_ || ready_.count(nextToHand_) > 0;
        });
        if (error_) std::rethrow_exception(error_);
        if (!ready) continue;
        auto node = ready_.extract(nextToHand_++);
        result = std::move(node.mapped());
      }
    }
    changed_.notify_all();
    if (index >= 0) {
      try {
        result = buildBatch(index, *inlineReader_);
        std::lock_guard lock(mutex_);
        ++nextToHand_;
      } catch (const Abandoned&) {
        interrupted_ = true;
      }
    }
    // An evaluation batch whose every video failed is empty: move on to the next.
    if (result && !result->clips.defined()) result.reset();
  }
  {
    std::lock_guard lock(mutex_);
    stats_.dataWaitS += wait.seconds();
  }
  if (!result && !interrupted_) finishEpoch();
  return result;
}

void ClipLoader::finishEpoch() const {
  std::lock_guard lock(mutex_);
  const int64_t attempts = stats_.loaded + stats_.failed;
  if (stats_.failed > 0 && attempts > 0 &&
      static_cast<double>(stats_.failed) / attempts > options_.maxBadFraction) {
    throw Error(
        fmt::format("{} of {} videos read this epoch failed to load, more than "
                    "data.max_bad_fraction={}; see the [data] warnings for which",
                    stats_.failed, attempts, options_.maxBadFraction));
  }
}

std::shared_ptr<ClipLoader> makeClipLoader(const Config& c, const std::string& listPath,
                                           bool training, int rank, int worldSize) {
  return makeClipLoader(c, readFileList(listPath, c.data.format, c.data.root, c.model.numClasses),
                        listPath, training, rank, worldSize);
}

std::shared_ptr<ClipLoader> makeClipLoader(const Config& c, std::vector<VideoSample> samples,
                                           const std::string& listPath, bool training, int rank,
                                           int worldSize) {
  // Missing files are not fatal (each is skipped and counted when read), but say so up front.
  std::vector<std::string> missing;
  for (const auto& s : samples) {
    if (!std::filesystem::exists(s.path)) missing.push_back(s.path);
  }
  if (!missing.empty()) {
    logging::get("data")->warn("{}: {} of {} listed files do not exist, e.g. {}", listPath,
                               missing.size(), samples.size(), missing.front());
  }
  auto dataset =
      std::make_shared<ClipDataset>(std::move(samples), c.model, c.data, training,
                                    training ? 1 : c.eval.numClips, training ? 1 : c.eval.crops);
  LoaderOptions o;
  o.batchSize = training ? c.train.batchSize : c.eval.batchSize;
  o.workers = c.data.workers;
  o.prefetch = c.data.prefetchBatches;
  o.shuffle = training;
  o.padToEqualShards = training;
  o.rank = rank;
  o.worldSize = worldSize;
  o.seed = static_cast<uint64_t>(c.train.seed);
  // Evaluation never stops for unreadable videos: it leaves them out and reports them.
  o.maxBadFraction = training ? c.data.maxBadFraction : 1.0;
  o.pinMemory = c.data.pinMemory && torch::cuda::is_available();
  // The model is on the GPU whenever LibTorch sees one (pickDevice): training batches go there
  // as pixels and are normalised there (TrainingStep).
  o.uint8Clips = training && torch::cuda::is_available();
  o.sampleTimeoutS = c.data.decodeTimeoutS;
  return std::make_shared<ClipLoader>(std::move(dataset), o);
}

}  // namespace tsn
