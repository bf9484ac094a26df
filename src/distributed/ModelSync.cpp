#include "distributed/ModelSync.h"

#include <cstring>
#include <utility>
#include <vector>

#include "common/Error.h"
#include "common/Strings.h"

namespace tsn {

void broadcastModule(torch::nn::Module& module, Communicator& comm) {
  torch::NoGradGuard noGrad;
  for (auto& p : module.parameters()) comm.broadcast(p, 0);
  for (auto& b : module.buffers()) comm.broadcast(b, 0);
}

namespace {

using NamedBuffers = std::vector<std::pair<std::string, torch::Tensor>>;

/// The floating-point buffers (BatchNorm running statistics), in registration order.
NamedBuffers floatingBuffers(torch::nn::Module& module) {
  NamedBuffers out;
  for (const auto& b : module.named_buffers()) {
    if (b.value().is_floating_point()) out.emplace_back(b.key(), b.value());
  }
  return out;
}

/// The buffers end to end in one float64 vector on their device: one collective for all, and
/// float64 holds every float32, float16 and bfloat16 value exactly; the sum of equal values is
/// exact too, so averaging statistics that are already one (after a resume) leaves them so.
torch::Tensor flatFloat64(const NamedBuffers& buffers) {
  std::vector<torch::Tensor> flat;
  for (const auto& [name, b] : buffers) flat.push_back(b.reshape(-1).to(torch::kFloat64));
  return torch::cat(flat);
}

}  // namespace

void averageBuffers(torch::nn::Module& module, Communicator& comm) {
  if (comm.size() == 1) return;
  torch::NoGradGuard noGrad;
  const auto buffers = floatingBuffers(module);
  if (buffers.empty()) return;
  auto all = flatFloat64(buffers);
  comm.allReduce(all, ReduceOp::Sum);
  all.div_(comm.size());
  int64_t offset = 0;
  for (const auto& [name, b] : buffers) {
    b.copy_(all.narrow(0, offset, b.numel()).view(b.sizes()));
    offset += b.numel();
  }
}

std::map<std::string, torch::Tensor> gatherBuffers(torch::nn::Module& module, Communicator& comm) {
  torch::NoGradGuard noGrad;
  const auto buffers = floatingBuffers(module);
  std::map<std::string, torch::Tensor> out;
  if (buffers.empty()) return out;
  const auto all = comm.allGather(flatFloat64(buffers).to(torch::kCPU));  // [size, total]
  int64_t offset = 0;
  for (const auto& [name, b] : buffers) {
    auto shape = b.sizes().vec();
    shape.insert(shape.begin(), comm.size());
    out.emplace(name, all.narrow(1, offset, b.numel()).reshape(shape).to(b.scalar_type()));
    offset += b.numel();
  }
  return out;
}

uint64_t moduleHash(const torch::nn::Module& module) {
  uint64_t hash = kFnvOffset;
  const auto shape = [](const torch::Tensor& t) {
    return fmt::format("[{}]", fmt::join(t.sizes().vec(), ","));
  };
  for (const auto& p : module.named_parameters()) hash = fnv1a(p.key() + shape(p.value()), hash);
  for (const auto& b : module.named_buffers()) hash = fnv1a(b.key() + shape(b.value()), hash);
  return hash;
}

void checkFingerprint(const Fingerprint& mine, Communicator& comm) {
  const uint64_t values[] = {mine.parameters, mine.config, mine.trainList, mine.valList,
                             mine.worldSize};
  static const char* kNames[] = {"model parameters (names and shapes)", "resolved config",
                                 "training file list", "validation file list", "world size"};
  auto local = torch::empty({5}, torch::kInt64);
  std::memcpy(local.data_ptr<int64_t>(), values, sizeof(values));
  const auto all = comm.allGather(local);
  const auto* v = all.data_ptr<int64_t>();
  for (int rank = 1; rank < comm.size(); ++rank) {
    for (int field = 0; field < 5; ++field) {
      if (v[rank * 5 + field] != v[field]) {
        throw Error(
            fmt::format("rank {} differs from rank 0 in its {} ({:016x} vs {:016x}); every "
                        "rank must run the same build, config and lists",
                        rank, kNames[field], static_cast<uint64_t>(v[rank * 5 + field]),
                        static_cast<uint64_t>(v[field])));
      }
    }
  }
}

}  // namespace tsn
