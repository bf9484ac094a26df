// The loader's CPU batch buffers: reused, never while a batch in them is held.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "data/LoaderFixture.h"

namespace tsn {
namespace {

TEST_F(LoaderTest, ABatchBufferIsReusedOnlyOnceNoOneHoldsItsBatch) {
  auto dataset = std::make_shared<ClipDataset>(samples(), model(), data(), true);  // 9 videos
  LoaderOptions o;
  o.batchSize = 2;
  o.workers = 3;
  o.prefetch = 2;
  ClipLoader loader(dataset, o);
  // Held, every batch of three epochs stays what it was when handed over while the workers
  // build the next ones (a buffer in use is never written).
  std::vector<Batch> held;
  std::vector<torch::Tensor> copies;
  for (int64_t e = 0; e < 3; ++e) {
    loader.startEpoch(e);
    while (auto b = loader.next()) {
      copies.push_back(b->clips.clone());
      held.push_back(std::move(*b));
    }
  }
  ASSERT_EQ(held.size(), 3 * static_cast<size_t>(loader.batchesPerEpoch()));
  std::set<const void*> buffers;
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(torch::equal(held[i].clips, copies[i])) << "batch " << i;
    buffers.insert(held[i].clips.data_ptr());
  }
  EXPECT_EQ(buffers.size(), held.size());  // no two held batches share memory
  // Dropped as they come (a training step's use), the batches of an epoch reuse the few buffers
  // the loader keeps: at most prefetch + workers + 2 of them.
  std::set<const void*> reused;
  held.clear();
  for (int64_t e = 3; e < 6; ++e) {
    loader.startEpoch(e);
    while (auto b = loader.next()) reused.insert(b->clips.data_ptr());
  }
  EXPECT_LE(reused.size(), static_cast<size_t>(o.prefetch + o.workers + 2));
}

}  // namespace
}  // namespace tsn
