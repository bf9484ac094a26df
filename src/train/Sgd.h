#pragma once
/// @file SGD with momentum and weight decay, as torch.optim.SGD (dampening 0, not Nesterov),
/// with its momentum buffers open for checkpoints.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/Weights.h"

namespace tsn {

class Sgd {
 public:
  /// `parameters` by name; the names key the momentum buffers in checkpoints.
  Sgd(std::vector<std::pair<std::string, torch::Tensor>> parameters, double momentum,
      double weightDecay);

  /// p -= lr * buf, buf = momentum * buf + (grad + weight_decay * p); the first step sets buf
  /// to the gradient. Parameters without a gradient are left alone.
  void step(double lr);
  /// Drops the gradients (backward allocates fresh ones).
  void zeroGrad();

  /// The parameters it updates, by name.
  const std::vector<std::pair<std::string, torch::Tensor>>& parameters() const { return params_; }

  /// Momentum buffers by parameter name (those that exist yet).
  StateDict momentum() const;
  /// Restores buffers saved by momentum(); every name must be one of this optimizer's, with its
  /// shape. Throws Error naming the first that is not.
  void setMomentum(const StateDict& buffers, const std::string& source);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> buffers_;
  double momentum_;
  double weightDecay_;
};

}  // namespace tsn
