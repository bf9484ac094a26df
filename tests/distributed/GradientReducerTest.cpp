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

}  // namespace
}  // namespace tsn
