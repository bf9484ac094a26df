#pragma once
/// @file Averages gradients over ranks in buckets, overlapping communication with backward.
///
/// Trainable parameters are packed, in reverse registration order (roughly the order backward
/// produces their gradients), into buckets: the first of about `firstBucketMb` megabytes (small,
/// as DDP's 1 MB, so the link starts early in backward), the others of about `bucketMb`. After
/// the first step the buckets are laid out again in the order the gradients actually arrived
/// (rank 0's, broadcast: identical on every rank), once, as DDP's rebuilt buckets. A hook on each
/// parameter copies its gradient, divided by the world size, into its bucket (one pass); when a
/// bucket is full its all-reduce starts, buckets strictly in order (every rank must issue
/// collectives in the same order). finish() starts what is left (a parameter without a gradient
/// this step contributes zeros), waits, and makes each parameter's .grad a view of its place in the
/// bucket, with the parameter's strides (as DDP's gradient_as_bucket_view): no copy back. The
/// optimizer must reset gradients to none before the next backward (Sgd::zeroGrad does), or
/// autograd would add into the bucket.

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "distributed/Communicator.h"

namespace tsn {

class GradientReducer {
 public:
  /// `firstBucketMb` 0: the first bucket is as large as the others.
  GradientReducer(std::vector<torch::Tensor> parameters, Communicator& comm, double bucketMb,
                  double firstBucketMb = 0);
  /// Removes its hooks from the parameters: they outlive the reducer (a model reduced again
  /// by a new reducer, or trained on alone) and must not call into it.
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// After loss.backward(): completes the step's all-reduces; grads are then world averages.
  void finish();

  size_t bucketCount() const { return buckets_.size(); }
  /// Each bucket's size in bytes, in launch order.
  std::vector<int64_t> bucketBytes() const;
  /// Whether the buckets were laid out again in the order gradients arrived (after step 1).
  bool rebuilt() const { return rebuilt_; }
  /// Buckets whose all-reduce started before finish() (while backward still ran) last step.
  size_t launchedDuringBackward() const { return launchedEarly_; }

 private:
  struct Bucket {
    std::vector<size_t> members;   ///< parameter indices
    std::vector<int64_t> offsets;  ///< element offset of each member in `flat`
    torch::Tensor flat;
    std::vector<torch::Tensor> views;  ///< each member's place in `flat`, shaped as it
    size_t pending = 0;
    std::shared_ptr<Work> work;
  };

  /// Buckets over the parameters in `order` (the order their gradients are expected).
  void layOut(const std::vector<size_t>& order);
  /// After the first step: rank 0's arrival order, and buckets by it where it differs.
  void followArrivalOrder();
  void onGradient(size_t param, const torch::Tensor& grad);
  void launchReadyBuckets();
  void launch(Bucket& bucket);
  void resetStep();

  std::vector<torch::Tensor> params_;
  std::vector<unsigned> hooks_;  ///< each parameter's hook, to remove
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;  ///< param -> (bucket, member)
  std::vector<bool> received_;
  std::vector<size_t> arrived_;  ///< parameters in the order their gradients came (step 1)
  double bucketMb_;
  double firstBucketMb_;
  bool rebuilt_ = false;
  bool firstStep_ = true;
  torch::Tensor scale_;  ///< 1 / world size
  size_t nextToLaunch_ = 0;
  size_t launchedEarly_ = 0;
};

}  // namespace tsn
