#pragma once
/// @file Batches of clips for one rank: shard -> decode workers -> bounded queue of batches.
///
/// Each epoch shuffles the whole list with a seed that depends only on (seed, epoch), so all
/// ranks agree on it, then rank r takes every world-th sample. Workers build whole batches and
/// hand them over in order; at most `prefetch + workers` batches exist at once. Every random
/// choice of a sample derives from (seed, epoch, its slot in the epoch's order over all ranks),
/// so a run is reproducible whatever the thread timing, ranks draw independently, and a slot
/// draws the same on 1 rank as on several. A worker's exception is rethrown by next().
///
/// No file can block the loader: every sample is read on an AbandonableThread and waited for at
/// most `sampleTimeoutS` plus a second; a read still running then (stuck in open() or read() of
/// a stalled file system) is abandoned, its sample replaced and counted as timed out, and that
/// sample is not tried again in this run. More than kMaxStuckThreads stuck reads stop the job
/// with an error naming the storage as the likely cause.

#include <torch/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/Config.h"
#include "data/ClipDataset.h"

namespace tsn {

struct LoaderOptions {
  int64_t batchSize = 1;
  int64_t workers = 0;  ///< 0: decode in the calling thread
  int64_t prefetch = 2;
  bool shuffle = false;
  bool padToEqualShards = false;  ///< training: every rank gets the same number of samples
  int rank = 0;
  int worldSize = 1;
  uint64_t seed = 0;
  int maxRetries = 10;          ///< replacements tried for a sample that fails to load
  double maxBadFraction = 1.0;  ///< abort the epoch when more samples than this fail
  bool pinMemory = false;       ///< batches in page-locked memory (needs a CUDA LibTorch)
  /// Clips as uint8 pixels (cropped, resized, flipped; not normalised): a quarter of the bytes
  /// to copy to a GPU, normalised there (ClipNormalizer). Training batches for a GPU model.
  bool uint8Clips = false;
  double sampleTimeoutS = 0;  ///< reading one sample may take this long (0: no limit)
};

struct Batch {
  torch::Tensor clips;             ///< [B, T, 3, S, S]: float, or uint8 pixels (uint8Clips)
  torch::Tensor labels;            ///< [B] int64
  std::vector<int64_t> sampleIds;  ///< dataset index of each clip
};

struct LoaderStats {
  int64_t loaded = 0;
  int64_t failed = 0;                               ///< samples that failed to load (each attempt)
  int64_t dropped = 0;                              ///< evaluation samples left out after failing
  std::map<std::string, int64_t> failuresByReason;  ///< by failureReason() (video/AvError.h)
  /// Evaluation samples left out: dataset index and the error.
  std::vector<std::pair<int64_t, std::string>> droppedSamples;
  double dataWaitS = 0;          ///< time next() spent waiting for a batch
  int64_t peakReadyBatches = 0;  ///< most finished batches held at once (the memory bound)
};

/// This rank's dataset indices for an epoch. Deterministic in (n, seed, epoch, rank, world).
std::vector<int64_t> shardIndices(int64_t n, int rank, int worldSize, uint64_t seed, int64_t epoch,
                                  bool shuffle, bool padToEqualShards);

class AbandonableThread;

class ClipLoader {
 public:
  /// Reads stuck in a system call that a process tolerates before the loader gives up.
  static constexpr int64_t kMaxStuckThreads = 16;

  ClipLoader(std::shared_ptr<const ClipDataset> dataset, LoaderOptions options);
  ~ClipLoader();
  ClipLoader(const ClipLoader&) = delete;
  ClipLoader& operator=(const ClipLoader&) = delete;

  /// Starts (or restarts) producing the batches of `epoch`, from batch `firstBatch` on (a
  /// resumed run skips the batches it already trained on, without reading them). Batch k of an
  /// epoch is the same whichever batch the epoch started from.
  void startEpoch(int64_t epoch, int64_t firstBatch = 0);

  /// The next batch of the epoch, or nullopt at its end, or early (interrupted() then says so)
  /// when the stop flag became non-zero. Rethrows a worker's exception.
  std::optional<Batch> next();

  /// From now on next() returns nullopt within 50 ms once `*flag` is non-zero (a stop signal),
  /// and reads in progress are given up on.
  void setStopFlag(const std::atomic<int>* flag) { stopFlag_ = flag; }
  /// The last next() returned early because of the stop flag.
  bool interrupted() const { return interrupted_; }

  /// Ends the epoch's accounting: throws when more of the videos read failed than
  /// maxBadFraction allows. next() calls it when the epoch runs out; a consumer that stops
  /// after batchesPerEpoch() batches calls it itself.
  void finishEpoch() const;

  int64_t batchesPerEpoch() const;
  LoaderStats stats() const;
  const ClipDataset& dataset() const { return *dataset_; }

 private:
  /// Thrown inside a worker whose read was given up on because the loader stops.
  struct Abandoned {};
  Batch buildBatch(int64_t batchIndex, AbandonableThread& reader);
  std::optional<DecodedClip> loadWithRetries(int64_t position, int64_t sampleIndex,
                                             int64_t* usedIndex, AbandonableThread& reader);
  /// Reads one sample on `reader`, waiting at most the sample timeout; throws VideoError
  /// (timed out) for a read it gave up on, Abandoned when the loader stops meanwhile. An
  /// abandoned read owns what it decodes: nothing it does later can reach a batch.
  DecodedClip loadBounded(int64_t index, uint64_t seed, AbandonableThread& reader);
  bool stopFlagSet() const { return stopFlag_ != nullptr && stopFlag_->load() != 0; }
  void workerLoop();
  void stopWorkers();
  /// A [batch_size, clip...] float tensor for the next batch: on the CPU path one of the
  /// loader's own whose batch nobody holds any more, so its pages are not faulted in again.
  torch::Tensor batchBuffer(const std::vector<int64_t>& shape);

  std::shared_ptr<const ClipDataset> dataset_;
  LoaderOptions options_;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> workers_;
  std::map<int64_t, Batch> ready_;
  int64_t nextToClaim_ = 0;
  int64_t nextToHand_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  LoaderStats stats_;
  /// Samples whose read was abandoned (by dataset index), with the error, never tried again.
  std::unordered_map<int64_t, std::string> abandoned_;
  const std::atomic<int>* stopFlag_ = nullptr;
  bool interrupted_ = false;
  std::unique_ptr<AbandonableThread> inlineReader_;  ///< workers == 0: reads for next()
  std::vector<torch::Tensor> buffers_;               ///< batchBuffer's, guarded by mutex_
};

/// The loader a run uses for one list: training (shuffled, padded shards, random augmentation,
/// train.batch_size) or evaluation (in order, exact shards, centre crops, eval.batch_size and
/// eval.num_clips). Reads and validates the list; throws ConfigError for a bad one.
std::shared_ptr<ClipLoader> makeClipLoader(const Config& config, const std::string& listPath,
                                           bool training, int rank = 0, int worldSize = 1);
/// The same for samples already in memory; `listPath` names them in messages.
std::shared_ptr<ClipLoader> makeClipLoader(const Config& config, std::vector<VideoSample> samples,
                                           const std::string& listPath, bool training, int rank = 0,
                                           int worldSize = 1);

}  // namespace tsn
