// The loader's batch buffers: reused, never while a batch in them is held; uint8 for a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "data/LoaderFixture.h"
#include "data/Transforms.h"

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

// Batches for a GPU go as uint8 pixels (a quarter of the bytes) and are normalised there: the
// same numbers as the float batches normalised on the host, within a float rounding (the
// values reach ~2.7, whose float spacing is 2.4e-7).
TEST_F(LoaderTest, Uint8BatchesNormalisedWhereTheyGoAreTheFloatBatches) {
  LoaderOptions pixels;
  pixels.uint8Clips = true;
  const auto floats = epoch(samples(), true, 2);
  const auto bytes = epoch(samples(), true, 2, pixels);
  ASSERT_EQ(floats.size(), bytes.size());
  const ClipNormalizer normalize(data().mean, data().std, torch::kCPU);
  for (size_t i = 0; i < floats.size(); ++i) {
    ASSERT_EQ(bytes[i].clips.scalar_type(), torch::kUInt8);
    EXPECT_EQ(bytes[i].clips.nbytes() * 4, floats[i].clips.nbytes());
    EXPECT_EQ(bytes[i].sampleIds, floats[i].sampleIds);
    const auto restored = normalize(bytes[i].clips);
    EXPECT_EQ(restored.scalar_type(), torch::kFloat32);
    EXPECT_LE((restored - floats[i].clips).abs().max().item<float>(), 1e-6) << "batch " << i;
  }
  // Float clips pass as they are.
  EXPECT_TRUE(normalize(floats[0].clips).is_same(floats[0].clips));
}

}  // namespace
}  // namespace tsn
