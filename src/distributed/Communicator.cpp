#include "distributed/Communicator.h"

#include <algorithm>
#include <thread>

#include "common/Error.h"

namespace tsn {

void DeadlineWork::wait() {
  auto pause = std::chrono::microseconds(1);
  while (!poll()) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() >
        timeoutS_) {
      const std::string consequence = onTimeout();
      throw Error(fmt::format("{} did not complete within dist.timeout_s={} s on rank {}{}: {}",
                              what_, timeoutS_, rank_,
                              consequence.empty() ? "" : "; " + consequence, missing_()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

namespace {
struct DoneWork final : Work {
  void wait() override {}
  bool poll() override { return true; }
};
}  // namespace

std::shared_ptr<Work> LocalCommunicator::allReduceAsync(torch::Tensor&, ReduceOp) {
  return std::make_shared<DoneWork>();
}

void LocalCommunicator::broadcast(torch::Tensor&, int root) {
  TSN_CHECK(root == 0, "broadcast root {} outside a world of one", root);
}

}  // namespace tsn
