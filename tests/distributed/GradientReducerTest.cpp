// The bucketed gradient reducer under mpirun (np 2 and 3).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/Error.h"
#include "distributed/GradientReducer.h"
#include "distributed/ModelSync.h"
#include "distributed/MpiCommunicator.h"
#include "distributed/MpiTestWorld.h"
#include "model/Tsn.h"

namespace tsn {
namespace {

using testing::gWorld;
using ::testing::HasSubstr;

TEST(GradientReducer, AveragesGradientsAcrossBucketBoundaries) {
  MpiCommunicator comm(*gWorld, 60);
  const int n = comm.size(), r = comm.rank();
  std::vector<torch::Tensor> params;
  for (const int64_t size : {3, 1000, 17, 50000, 1, 4096}) {
    params.push_back(torch::zeros({size}, torch::requires_grad()));
  }
  // ~10 KB buckets: the 50000-float tensor gets its own, small ones share.
  GradientReducer reducer(params, comm, 0.01);
  EXPECT_GE(reducer.bucketCount(), 4u);
  for (int step = 0; step < 3; ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    auto loss = torch::zeros({});
    for (size_t k = 0; k < params.size(); ++k) {
      if (k == 4) continue;  // unused this step: averages to zero
      loss = loss + params[k].sum() * static_cast<double>((r + 1) * (k + 1) * (step + 1));
    }
    loss.backward();
    reducer.finish();
    for (size_t k = 0; k < params.size(); ++k) {
      const double expected = k == 4 ? 0.0 : (k + 1) * (step + 1) * (n + 1) / 2.0;
      EXPECT_TRUE(torch::allclose(params[k].grad(), torch::full_like(params[k], expected)))
          << "param " << k << " step " << step;
    }
  }
}

/// A world of one that counts the all-reduces it is asked for.
class CountingCommunicator final : public Communicator {
 public:
  std::string backendName() const override { return "counting"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int localRank() const override { return 0; }
  void allReduce(torch::Tensor&, ReduceOp) override { ++allReduces; }
  std::shared_ptr<Work> allReduceAsync(torch::Tensor& t, ReduceOp op) override {
    ++allReduces;
    return local_.allReduceAsync(t, op);
  }
  torch::Tensor allGather(const torch::Tensor& t) override { return local_.allGather(t); }
  void broadcast(torch::Tensor& t, int root) override { local_.broadcast(t, root); }
  void barrier() override {}
  int allReduces = 0;

 private:
  LocalCommunicator local_;
};

TEST(GradientReducer, ADestroyedReducerLeavesNoHookOnTheParameters) {
  std::vector<torch::Tensor> params;
  for (const int64_t size : {5, 3000, 7})
    params.push_back(torch::ones({size}, torch::requires_grad()));
  CountingCommunicator first, second;
  { GradientReducer gone(params, first, 0.01); }
  // The model trained on alone: plain gradients, and nothing calls into the reducer that is gone.
  (params[0].sum() * 2 + params[1].sum() + params[2].sum()).backward();
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::full_like(params[0], 2)));
  EXPECT_EQ(first.allReduces, 0);
  // A new reducer on the same parameters sees each gradient once.
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  GradientReducer again(params, second, 0.01);
  (params[0].sum() * 3 + params[1].sum() + params[2].sum()).backward();
  again.finish();
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::full_like(params[0], 3)));
  EXPECT_EQ(second.allReduces, static_cast<int>(again.bucketCount()));
  EXPECT_EQ(first.allReduces, 0);
}

TEST(GradientReducer, GradientsAreViewsOfTheBucketsWithTheParametersStrides) {
  // No copy back after the all-reduce: each .grad is its place in the bucket, channels-last
  // where the parameter is, and the next step's gradients land in the same memory.
  std::vector<torch::Tensor> params{
      torch::zeros({8, 3, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast).requires_grad_(),
      torch::zeros({10}, torch::requires_grad())};
  CountingCommunicator comm;
  GradientReducer reducer(params, comm, 1.0);
  ASSERT_EQ(reducer.bucketCount(), 1u);
  const void* first = nullptr;
  for (int step = 0; step < 2; ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const auto w = torch::randn({8, 3, 3, 3}), v = torch::randn({10});
    ((params[0] * w).sum() + (params[1] * v).sum()).backward();
    reducer.finish();
    EXPECT_TRUE(torch::equal(params[0].grad(), w));
    EXPECT_TRUE(torch::equal(params[1].grad(), v));
    EXPECT_EQ(params[0].grad().strides(), params[0].strides());
    if (step == 0) first = params[0].grad().data_ptr();
    EXPECT_EQ(params[0].grad().data_ptr(), first) << "step " << step;
  }
}

}  // namespace
}  // namespace tsn
