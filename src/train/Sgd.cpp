#include "train/Sgd.h"

#include "common/Error.h"

namespace tsn {

Sgd::Sgd(std::vector<std::pair<std::string, torch::Tensor>> parameters, double momentum,
         double weightDecay)
    : params_(std::move(parameters)),
      buffers_(params_.size()),
      momentum_(momentum),
      weightDecay_(weightDecay) {}

void Sgd::step(double lr) {
  torch::NoGradGuard noGrad;
  // Multi-tensor (foreach) operations, as torch.optim.SGD uses on GPUs: a few fused kernels
  // per step instead of several per parameter. On the CPU they loop over the same per-tensor
  // operations, so the arithmetic is the same either way.
  std::vector<torch::Tensor> params, steps;
  std::vector<size_t> index;
  for (size_t k = 0; k < params_.size(); ++k) {
    auto& p = params_[k].second;
    if (!p.grad().defined()) continue;
    params.push_back(p);
    steps.push_back(p.grad());
    index.push_back(k);
  }
  if (params.empty()) return;
  if (weightDecay_ != 0) steps = at::_foreach_add(steps, params, weightDecay_);
  if (momentum_ != 0) {
    std::vector<torch::Tensor> running, incoming;
    for (size_t i = 0; i < index.size(); ++i) {
      auto& buffer = buffers_[index[i]];
      if (!buffer.defined()) {
        buffer = steps[i].clone().detach();  // the first step sets the buffer to the gradient
      } else {
        running.push_back(buffer);
        incoming.push_back(steps[i]);
      }
    }
    if (!running.empty()) {
      at::_foreach_mul_(running, momentum_);
      at::_foreach_add_(running, incoming);
    }
    for (size_t i = 0; i < index.size(); ++i) steps[i] = buffers_[index[i]];
  }
  at::_foreach_add_(params, steps, -lr);
}

void Sgd::zeroGrad() {
  // As torch.optim's zero_grad(set_to_none=True): backward allocates fresh gradients, so no
  // kernel clears the old ones.
  for (auto& [name, p] : params_) p.mutable_grad().reset();
}

StateDict Sgd::momentum() const {
  StateDict out;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (buffers_[k].defined()) out.emplace(params_[k].first, buffers_[k]);
  }
  return out;
}

void Sgd::setMomentum(const StateDict& buffers, const std::string& source) {
  std::map<std::string, size_t> index;
  for (size_t k = 0; k < params_.size(); ++k) index.emplace(params_[k].first, k);
  for (const auto& [name, buffer] : buffers) {
    const auto it = index.find(name);
    if (it == index.end()) {
      throw Error(
          fmt::format("{}: momentum for {}, which this model does not train", source, name));
    }
    const auto& p = params_[it->second].second;
    TSN_CHECK(buffer.sizes() == p.sizes(), "{}: momentum of {} has another shape", source, name);
    buffers_[it->second] = buffer.to(p.options()).contiguous(p.suggest_memory_format()).clone();
  }
}

}  // namespace tsn
