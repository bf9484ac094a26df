#include "distributed/GradientReducer.h"

#include "common/Error.h"

namespace tsn {

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters, Communicator& comm,
                                 double bucketMb, double firstBucketMb)
    : params_(std::move(parameters)),
      comm_(comm),
      where_(params_.size()),
      received_(params_.size()),
      bucketMb_(bucketMb),
      firstBucketMb_(firstBucketMb > 0 ? firstBucketMb : bucketMb) {
  std::vector<size_t> order;
  for (size_t k = params_.size(); k-- > 0;) {
    TSN_CHECK(params_[k].requires_grad(), "parameter {} given to the reducer does not require grad",
              k);
    order.push_back(k);
  }
  layOut(order);
  if (!buckets_.empty()) {
    scale_ = torch::scalar_tensor(1.0 / comm_.size(), buckets_.front().flat.options());
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    hooks_.push_back(
        params_[k].register_hook([this, k](const torch::Tensor& grad) { onGradient(k, grad); }));
  }
  resetStep();
}

void GradientReducer::layOut(const std::vector<size_t>& order) {
  buckets_.clear();
  int64_t bytes = 0;
  for (const size_t k : order) {
    const torch::Tensor& p = params_[k];
    const double limitMb = buckets_.size() == 1 ? firstBucketMb_ : bucketMb_;
    const auto limit = static_cast<int64_t>(limitMb * 1024 * 1024);
    if (buckets_.empty() || (bytes > 0 && bytes + static_cast<int64_t>(p.nbytes()) > limit) ||
        p.scalar_type() != params_[buckets_.back().members.front()].scalar_type()) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    where_[k] = {buckets_.size() - 1, b.members.size()};
    b.offsets.push_back(b.members.empty() ? 0
                                          : b.offsets.back() + params_[b.members.back()].numel());
    b.members.push_back(k);
    bytes += static_cast<int64_t>(p.nbytes());
  }
  for (auto& b : buckets_) {
    const auto& last = params_[b.members.back()];
    b.flat = torch::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
    for (size_t m = 0; m < b.members.size(); ++m) {
      const torch::Tensor& p = params_[b.members[m]];
      // A dense parameter (contiguous or channels-last) keeps its strides over its span.
      b.views.push_back(p.is_non_overlapping_and_dense()
                            ? b.flat.as_strided(p.sizes(), p.strides(), b.offsets[m])
                            : b.flat.narrow(0, b.offsets[m], p.numel()).view(p.sizes()));
    }
  }
}

std::vector<int64_t> GradientReducer::bucketBytes() const {
  std::vector<int64_t> out;
  for (const auto& b : buckets_) out.push_back(static_cast<int64_t>(b.flat.nbytes()));
  return out;
}

void GradientReducer::followArrivalOrder() {
  // Parameters without a gradient in step 1 go last, in the order they had.
  std::vector<size_t> order = arrived_;
  std::vector<bool> listed(params_.size());
  for (const size_t k : order) listed[k] = true;
  for (const auto& b : buckets_) {
    for (const size_t k : b.members) {
      if (!listed[k]) order.push_back(k);
    }
  }
  // Every rank buckets by rank 0's order (another rank's backward may have run in another).
  auto shared = torch::tensor(std::vector<int64_t>(order.begin(), order.end()), torch::kInt64);
  comm_.broadcast(shared, 0);
  const auto* values = shared.data_ptr<int64_t>();
  order.assign(values, values + shared.numel());
  std::vector<size_t> current;
  for (const auto& b : buckets_) current.insert(current.end(), b.members.begin(), b.members.end());
  if (order == current) return;
  layOut(order);
  rebuilt_ = true;
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) params_[k].remove_hook(hooks_[k]);
}

void GradientReducer::resetStep() {
  for (auto& b : buckets_) {
    b.pending = b.members.size();
    b.work.reset();
  }
  std::fill(received_.begin(), received_.end(), false);
  nextToLaunch_ = 0;
}

void GradientReducer::onGradient(size_t param, const torch::Tensor& grad) {
  const auto [bucketIndex, member] = where_[param];
  Bucket& b = buckets_[bucketIndex];
  TSN_CHECK(!received_[param], "parameter {} received two gradients in one step", param);
  received_[param] = true;
  if (firstStep_) arrived_.push_back(param);
  // Averaged on the way in: the sum over ranks is then the average (exact for a power-of-two
  // world size; otherwise within a rounding of sum / size).
  torch::mul_out(b.views[member], grad, scale_);
  if (--b.pending == 0) launchReadyBuckets();
  // Buckets already in flight over MPI progress only while someone calls into the library:
  // every gradient that arrives gives them a turn. NCCL's stream needs none.
  if (!comm_.needsPolling()) return;
  for (size_t k = 0; k < nextToLaunch_; ++k) {
    if (buckets_[k].work) buckets_[k].work->poll();
  }
}

void GradientReducer::launchReadyBuckets() {
  while (nextToLaunch_ < buckets_.size() && buckets_[nextToLaunch_].pending == 0) {
    launch(buckets_[nextToLaunch_++]);
  }
}

void GradientReducer::launch(Bucket& bucket) {
  bucket.work = comm_.allReduceAsync(bucket.flat, ReduceOp::Sum);
}

void GradientReducer::finish() {
  launchedEarly_ = nextToLaunch_;
  // Parameters that got no gradient this step (unused by the forward pass) count as zeros.
  for (size_t k = 0; k < params_.size(); ++k) {
    if (received_[k]) continue;
    const auto [bucketIndex, member] = where_[k];
    Bucket& b = buckets_[bucketIndex];
    b.views[member].zero_();
    --b.pending;
  }
  launchReadyBuckets();
  TSN_CHECK(nextToLaunch_ == buckets_.size(), "gradient buckets left unlaunched");
  for (auto& b : buckets_) {
    // On a GPU the device waits, not the host (the optimizer's kernels queue behind the
    // all-reduce); Communicator::settle() keeps the deadline once per log window.
    b.work->waitOnDevice();
    for (size_t m = 0; m < b.members.size(); ++m) params_[b.members[m]].mutable_grad() = b.views[m];
  }
  // The gradients stay views of the buckets they were reduced in; the next step fills new ones.
  if (firstStep_) followArrivalOrder();
  firstStep_ = false;
  arrived_.clear();
  resetStep();
}

}  // namespace tsn
