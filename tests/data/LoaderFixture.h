#pragma once
/// @file The fixture of the loader tests: a small synthetic data set made once per suite, and
/// an epoch read through a ClipLoader.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/ClipLoader.h"
#include "data/FileList.h"
#include "support/TestSupport.h"

namespace tsn {

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
  /// Every batch of epoch 1, seed 11 (rank and world as `o` says), data as `d` says (default:
  /// data()).
  std::vector<Batch> epoch(std::vector<VideoSample> s, bool training, int workers,
                           LoaderOptions o = {}, int64_t batchSize = 4,
                           std::optional<DataConfig> d = std::nullopt) const {
    auto dataset = std::make_shared<ClipDataset>(std::move(s), model(), d ? *d : data(), training);
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
inline testing::TempDir* LoaderTest::dataDir_ = nullptr;

}  // namespace tsn
