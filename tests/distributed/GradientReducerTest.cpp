// The bucketed gradient reducer under mpirun (np 2 and 3).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>

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
    if (onStart) onStart(t.numel());
    return std::make_shared<CountingWork>(*this);
  }
  bool needsPolling() const override { return polling; }
  torch::Tensor allGather(const torch::Tensor& t) override { return local_.allGather(t); }
  void broadcast(torch::Tensor& t, int root) override { local_.broadcast(t, root); }
  void barrier() override {}
  int allReduces = 0;
  std::function<void(int64_t)> onStart;  ///< told each all-reduce's size as it starts
  bool polling = false;                  ///< what needsPolling() says
  int polls = 0, hostWaits = 0, deviceWaits = 0;

 private:
  /// Done at once; counts how it is waited for.
  struct CountingWork final : Work {
    explicit CountingWork(CountingCommunicator& owner) : owner(owner) {}
    void wait() override { ++owner.hostWaits; }
    bool poll() override { return ++owner.polls, true; }
    void waitOnDevice() override { ++owner.deviceWaits; }
    CountingCommunicator& owner;
  };
  LocalCommunicator local_;
};

// MPI moves data only while called: every gradient gives the buckets in flight a turn. NCCL's
// stream needs none, and its buckets are waited for by the device, not the host.
TEST(GradientReducer, BucketsInFlightArePolledOnlyWhereTheBackendNeedsIt) {
  for (const bool polling : {true, false}) {
    std::vector<torch::Tensor> params;
    for (int k = 0; k < 6; ++k) params.push_back(torch::ones({300}, torch::requires_grad()));
    CountingCommunicator comm;
    comm.polling = polling;
    GradientReducer reducer(params, comm, 300 * 4 / 1e6);  // a bucket per parameter
    ASSERT_EQ(reducer.bucketCount(), 6u);
    auto loss = params[0].sum();
    for (int k = 1; k < 6; ++k) loss = loss + params[k].sum();
    loss.backward();
    reducer.finish();
    if (polling) {
      EXPECT_GT(comm.polls, 0);
    } else {
      EXPECT_EQ(comm.polls, 0);
    }
    EXPECT_EQ(comm.deviceWaits, 6) << "finish() leaves the wait to the device (or to wait())";
    EXPECT_EQ(comm.hostWaits, 0);
  }
}

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
  // where the parameter is, and once the buckets follow step 1's arrival order, every step's
  // gradients land in the same memory.
  std::vector<torch::Tensor> params{
      torch::zeros({8, 3, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast).requires_grad_(),
      torch::zeros({10}, torch::requires_grad())};
  CountingCommunicator comm;
  GradientReducer reducer(params, comm, 1.0);
  ASSERT_EQ(reducer.bucketCount(), 1u);
  const void* first = nullptr;
  for (int step = 0; step < 3; ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const auto w = torch::randn({8, 3, 3, 3}), v = torch::randn({10});
    ((params[0] * w).sum() + (params[1] * v).sum()).backward();
    reducer.finish();
    EXPECT_TRUE(torch::equal(params[0].grad(), w));
    EXPECT_TRUE(torch::equal(params[1].grad(), v));
    EXPECT_EQ(params[0].grad().strides(), params[0].strides());
    if (step == 1) first = params[0].grad().data_ptr();
    if (step >= 1) {
      EXPECT_EQ(params[0].grad().data_ptr(), first) << "step " << step;
    }
  }
}

TEST(GradientReducer, TheFirstBucketIsSmallAndTheOthersFillToTheirSize) {
  // 1 KiB = 256 floats: the first bucket stops there, the others take 4 KiB.
  std::vector<torch::Tensor> params;
  for (int k = 0; k < 12; ++k) params.push_back(torch::zeros({200}, torch::requires_grad()));
  CountingCommunicator comm;
  GradientReducer reducer(params, comm, 4.0 / 1024, 1.0 / 1024);
  const std::vector<int64_t> expected{800, 4000, 4000, 800};  // bytes: 1 + 5 + 5 + 1 tensors
  EXPECT_EQ(reducer.bucketBytes(), expected);
  GradientReducer uniform(params, comm, 4.0 / 1024);
  EXPECT_EQ(uniform.bucketBytes(), (std::vector<int64_t>{4000, 4000, 1600}));
}

TEST(GradientReducer, AfterTheFirstStepBucketsFollowTheOrderGradientsArrived) {
  // Registered a, b, c; the forward uses c first, so backward gives a's gradient first, c's
  // last: the opposite of reverse registration order, which step 1 assumes.
  std::vector<torch::Tensor> params{torch::ones({10}, torch::requires_grad()),
                                    torch::ones({20}, torch::requires_grad()),
                                    torch::ones({30}, torch::requires_grad())};
  // One log of gradients arriving (hooks that run before the reducer's) and all-reduces started.
  std::vector<std::string> events;
  for (auto& p : params) {
    p.register_hook([&events, n = p.numel()](const torch::Tensor&) {
      events.push_back(fmt::format("grad {}", n));
    });
  }
  CountingCommunicator comm;
  comm.onStart = [&](int64_t n) { events.push_back(fmt::format("start {}", n)); };
  GradientReducer reducer(params, comm, 1e-6);  // a bucket each
  const auto step = [&] {
    events.clear();
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const auto c = params[2].sum() * 3;
    const auto b = params[1].sum() * c;
    (params[0].sum() * b).backward();
    reducer.finish();
  };
  step();
  // Step 1: c's bucket goes first, so nothing could start before its gradient, the last.
  EXPECT_EQ(events, (std::vector<std::string>{"grad 10", "grad 20", "grad 30", "start 30",
                                              "start 20", "start 10"}));
  EXPECT_TRUE(reducer.rebuilt());
  step();
  EXPECT_EQ(events, (std::vector<std::string>{"grad 10", "start 10", "grad 20", "start 20",
                                              "grad 30", "start 30"}));
  // The gradients are still right: d/da = 20 * 90, d/db = 10 * 90, d/dc = 10 * 20 * 3.
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::full({10}, 1800.0)));
  EXPECT_TRUE(torch::equal(params[1].grad(), torch::full({20}, 900.0)));
  EXPECT_TRUE(torch::equal(params[2].grad(), torch::full({30}, 600.0)));
}

}  // namespace
}  // namespace tsn
