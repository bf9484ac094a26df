#include "observe/StepRecorder.h"

#include "common/Error.h"
#include "model/TorchSave.h"

namespace tsn {

StepRecorder::StepRecorder(std::filesystem::path dir, int rank)
    : dir_(std::move(dir)), rank_(rank) {
  std::filesystem::create_directories(dir_);
}

void StepRecorder::saveInitial(const Tsn& model) const {
  if (rank_ != 0) return;
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& p : model->named_parameters()) {
    state.insert(p.key(), p.value().detach().cpu().contiguous());
  }
  for (const auto& b : model->named_buffers()) {
    state.insert(b.key(), b.value().detach().cpu().contiguous());
  }
  torchSave(state, dir_ / "initial.pt");
}

void StepRecorder::saveStep(int64_t step, const torch::Tensor& clips, const torch::Tensor& labels,
                            double lr, double loss) const {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("clips", clips.detach().cpu().contiguous());
  d.insert("labels", labels.detach().cpu().contiguous());
  d.insert("lr", lr);
  d.insert("loss", loss);
  torchSave(d, dir_ / fmt::format("rank{}_step{:06d}.pt", rank_, step));
}

}  // namespace tsn
