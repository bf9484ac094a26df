#include "distributed/MpiProgress.h"

namespace tsn {

MpiProgress::MpiProgress(std::chrono::microseconds interval)
    : interval_(interval), thread_([this] { loop(); }) {}

MpiProgress::~MpiProgress() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

std::shared_ptr<MpiCompletion> MpiProgress::track(MPI_Request request) {
  auto completion = std::make_shared<MpiCompletion>();
  {
    std::lock_guard lock(mutex_);
    incoming_.emplace_back(request, completion);
  }
  changed_.notify_all();
  return completion;
}

void MpiProgress::loop() {
  std::vector<std::pair<MPI_Request, std::shared_ptr<MpiCompletion>>> active;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (active.empty()) changed_.wait(lock, [&] { return stopping_ || !incoming_.empty(); });
      if (stopping_) return;
      for (auto& entry : incoming_) active.push_back(std::move(entry));
      incoming_.clear();
    }
    for (size_t i = 0; i < active.size();) {
      int done = 0;
      const int rc = MPI_Test(&active[i].first, &done, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS || done) {
        auto& completion = *active[i].second;
        completion.code = rc;
        completion.state.store(rc == MPI_SUCCESS ? MpiCompletion::Done : MpiCompletion::Failed);
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    if (!active.empty()) std::this_thread::sleep_for(interval_);
  }
}

}  // namespace tsn
