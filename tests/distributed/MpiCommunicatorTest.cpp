#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "common/Error.h"
#include "distributed/MpiCommunicator.h"
#include "distributed/MpiTestWorld.h"

namespace tsn {
namespace {

using ::testing::AllOf;
using testing::gWorld;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MpiCommunicator, KnowsItsPlaceInTheWorld) {
  MpiCommunicator comm(*gWorld, 60);
  EXPECT_GE(comm.size(), 2);
  EXPECT_EQ(comm.rank(), gWorld->rank());
  // All ranks run on this one machine: the node rank is the world rank.
  EXPECT_EQ(comm.localRank(), comm.rank());
  EXPECT_EQ(gWorld->localSize(), comm.size());
  // Every rank knows every rank's host: here all the same.
  ASSERT_EQ(gWorld->hosts().size(), static_cast<size_t>(comm.size()));
  for (const auto& host : gWorld->hosts()) EXPECT_EQ(host, gWorld->hostname());
}

TEST(MpiCommunicator, OneCountNumbersItsCollectivesAndThoseItIsToldOf) {
  // NcclCommunicator numbers its GPU collectives with nextSequence(): a rank that times out
  // in either kind compares one count with its peers (missingRanks).
  MpiCommunicator comm(*gWorld, 60);
  auto t = torch::ones({4});
  comm.allReduce(t);
  EXPECT_EQ(comm.sequence(), 1u);
  EXPECT_EQ(comm.nextSequence(), 2u);
  comm.broadcast(t);
  EXPECT_EQ(comm.sequence(), 3u);
}

/// Every collective test runs without and with the progress thread (MpiProgress).
class MpiCollectives : public ::testing::TestWithParam<int> {
 protected:
  std::chrono::microseconds progress() const { return std::chrono::microseconds(GetParam()); }
};

TEST_P(MpiCollectives, AllReduceSumsAndMaxesEverySizeAndDtype) {
  MpiCommunicator comm(*gWorld, 60, progress());
  EXPECT_EQ(comm.progressThread(), GetParam() > 0 && gWorld->threadMultiple());
  const int n = comm.size(), r = comm.rank();
  for (const int64_t size : {1, 7, 1000, 1 << 20}) {
    for (const auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32}) {
      auto t = (torch::arange(size, torch::kFloat64) % 97 + r).to(dtype);
      comm.allReduce(t, ReduceOp::Sum);
      const auto expected =
          ((torch::arange(size, torch::kFloat64) % 97) * n + n * (n - 1) / 2.0).to(dtype);
      EXPECT_TRUE(torch::equal(t, expected)) << size << " " << dtype;
      auto m = torch::full({size}, r, dtype);
      comm.allReduce(m, ReduceOp::Max);
      EXPECT_TRUE(torch::equal(m, torch::full({size}, n - 1, dtype)));
    }
  }
  auto half = torch::ones({4}, torch::kFloat16);
  EXPECT_THAT(
      [&] { comm.allReduce(half); },
      ::testing::ThrowsMessage<Error>(HasSubstr("backend mpi does not support dtype Half")));
}

TEST_P(MpiCollectives, BroadcastAndAllGather) {
  MpiCommunicator comm(*gWorld, 60, progress());
  auto t = torch::full({5}, comm.rank() + 10, torch::kFloat32);
  comm.broadcast(t, comm.size() - 1);
  EXPECT_TRUE(torch::equal(t, torch::full({5}, comm.size() - 1 + 10, torch::kFloat32)));
  const auto all = comm.allGather(torch::tensor({comm.rank(), 2 * comm.rank()}, torch::kInt64));
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{comm.size(), 2}));
  for (int k = 0; k < comm.size(); ++k) {
    EXPECT_EQ(all[k][0].item<int64_t>(), k);
    EXPECT_EQ(all[k][1].item<int64_t>(), 2 * k);
  }
  comm.barrier();
}

TEST_P(MpiCollectives, ACollectiveAStalledRankNeverJoinsTripsTheTimeoutNamingIt) {
  MpiCommunicator comm(*gWorld, 1.0, progress());
  auto t = torch::ones({8});
  comm.allReduce(t);  // a collective every rank completes first
  if (comm.rank() != 1) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT([&] { comm.allReduce(t); },
                ::testing::ThrowsMessage<Error>(AllOf(
                    HasSubstr("all-reduce of 8 values (collective #2) did not complete within "
                              "dist.timeout_s=1 s"),
                    HasSubstr("rank 1 (" + gWorld->hosts()[1] + ") did not arrive"),
                    Not(HasSubstr("earlier")))));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 4.0);
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    comm.allReduce(t);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

INSTANTIATE_TEST_SUITE_P(Progress, MpiCollectives, ::testing::Values(0, 100), [](const auto& info) {
  return info.param > 0 ? "progress_thread" : "polled";
});

// The progress thread moves a large all-reduce while the caller does something else (backward,
// in training); without it the data moves only when the caller polls.
TEST(MpiCommunicator, AProgressThreadCompletesACollectiveTheCallerNeverPolls) {
  ASSERT_TRUE(gWorld->threadMultiple()) << "Open MPI without MPI_THREAD_MULTIPLE";
  for (const int us : {0, 100}) {
    MpiCommunicator comm(*gWorld, 60, std::chrono::microseconds(us));
    auto t = torch::ones({4 << 20});  // 16 MB: many fragments, never one call's work
    MPI_Barrier(MPI_COMM_WORLD);
    auto work = comm.allReduceAsync(t, ReduceOp::Sum);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(work->poll(), us > 0) << "progress " << us << " us";
    work->wait();
    EXPECT_EQ(t[12345].item<float>(), static_cast<float>(comm.size()));
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

}  // namespace
}  // namespace tsn
