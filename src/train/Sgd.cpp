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
  for (size_t k = 0; k < params_.size(); ++k) {
    auto& p = params_[k].second;
    if (!p.grad().defined()) continue;
    auto d = p.grad();
    if (weightDecay_ != 0) d = d.add(p, weightDecay_);
    if (momentum_ != 0) {
      if (!buffers_[k].defined()) {
        buffers_[k] = d.clone().detach();
      } else {
        buffers_[k].mul_(momentum_).add_(d);
      }
      d = buffers_[k];
    }
    p.add_(d, -lr);
  }
}

void Sgd::zeroGrad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) {
      p.mutable_grad().detach_();
      p.mutable_grad().zero_();
    }
  }
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
