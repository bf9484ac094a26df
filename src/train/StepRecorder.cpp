#include "train/StepRecorder.h"

#include <fstream>

#include "common/Error.h"
#include "model/TorchSave.h"

namespace tsn {
namespace {

void writeBytes(const std::filesystem::path& file, const std::vector<char>& bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw Error(fmt::format("{}: write failed", file.string()));
}

}  // namespace

StepRecorder::StepRecorder(std::filesystem::path dir, int rank)
    : dir_(std::move(dir)), rank_(rank) {
  std::filesystem::create_directories(dir_);
}

void StepRecorder::saveInitial(const Tsn& model) const {
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& p : model->named_parameters()) {
    state.insert(p.key(), p.value().detach().cpu().contiguous());
  }
  for (const auto& b : model->named_buffers()) {
    state.insert(b.key(), b.value().detach().cpu().contiguous());
  }
  writeBytes(dir_ / "initial.pt", torchSave(state));
}

void StepRecorder::saveStep(int64_t step, const torch::Tensor& clips, const torch::Tensor& labels,
                            double lr, double loss) const {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("clips", clips.detach().cpu().contiguous());
  d.insert("labels", labels.detach().cpu().contiguous());
  d.insert("lr", lr);
  d.insert("loss", loss);
  writeBytes(dir_ / fmt::format("rank{}_step{:06d}.pt", rank_, step), torchSave(d));
}

}  // namespace tsn
