#include "distributed/Communicator.h"

#include <torch/torch.h>

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

torch::Tensor gatherRows(const torch::Tensor& local, Communicator& comm) {
  auto count = torch::tensor({local.size(0)}, torch::kInt64);
  const auto counts = comm.allGather(count);
  const int64_t most = counts.max().item<int64_t>();
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = most;
  auto padded = torch::zeros(shape, local.options());
  if (local.size(0) > 0) padded.narrow(0, 0, local.size(0)).copy_(local);
  const auto all = comm.allGather(padded);
  std::vector<torch::Tensor> parts;
  for (int64_t r = 0; r < comm.size(); ++r)
    parts.push_back(all[r].narrow(0, 0, counts[r].item<int64_t>()));
  return torch::cat(parts);
}

std::vector<std::string> gatherStrings(const std::string& mine, Communicator& comm) {
  const auto bytes = torch::from_blob(const_cast<char*>(mine.data()),
                                      {static_cast<int64_t>(mine.size())}, torch::kUInt8)
                         .clone()
                         .unsqueeze(1);
  auto count = torch::tensor({static_cast<int64_t>(mine.size())}, torch::kInt64);
  const auto lengths = comm.allGather(count);
  const auto joined = gatherRows(bytes, comm).contiguous();
  std::vector<std::string> out;
  int64_t offset = 0;
  const auto* data = reinterpret_cast<const char*>(joined.data_ptr<uint8_t>());
  for (int64_t r = 0; r < comm.size(); ++r) {
    const int64_t n = lengths[r].item<int64_t>();
    out.emplace_back(data + offset, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

}  // namespace tsn
