#include "model/Weights.h"

#include "common/Error.h"
#include "model/TorchSave.h"

namespace tsn {
namespace {

std::string shapeOf(const torch::Tensor& t) {
  return fmt::format("[{}]", fmt::join(t.sizes().vec(), ", "));
}

StateDict tensorsOf(const c10::impl::GenericDict& dict, const std::string& path) {
  StateDict out;
  for (const auto& entry : dict) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      throw ConfigError(fmt::format("{}: expected a dict of name -> tensor", path));
    }
    out.emplace(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

}  // namespace

StateDict readStateDict(const std::string& path) {
  c10::IValue value;
  try {
    value = torchLoad(path);
  } catch (const TorchSaveError& e) {
    if (!e.opened()) throw ConfigError(fmt::format("{}: cannot open weights file", path));
    throw ConfigError(
        fmt::format("{}: not a torch.save file LibTorch can read (save a plain dict: "
                    "torch.save(dict(model.state_dict()), path)): {}",
                    path, e.what()));
  }
  if (!value.isGenericDict()) throw ConfigError(fmt::format("{}: expected a dict", path));
  const auto dict = value.toGenericDict();
  for (const char* nested : {"state_dict", "model"}) {
    if (dict.contains(nested) && dict.at(nested).isGenericDict()) {
      return tensorsOf(dict.at(nested).toGenericDict(), path);
    }
  }
  return tensorsOf(dict, path);
}

LoadReport loadWeights(Tsn& model, const StateDict& weights, const std::string& source,
                       bool dropHead) {
  // Our names for every tensor in the file.
  LoadReport report;
  StateDict remaining;
  for (const auto& [name, tensor] : weights) {
    if (name.rfind("backbone.", 0) == 0 || name.rfind("head.", 0) == 0) {
      remaining.emplace(name, tensor);
    } else if (name.rfind("fc.", 0) != 0) {
      remaining.emplace("backbone." + name, tensor);
    }  // else torchvision's classifier: another task's classes, never loaded
  }

  torch::NoGradGuard noGrad;
  const auto assign = [&](const std::string& name, torch::Tensor& target) {
    const auto it = remaining.find(name);
    const bool isHead = name.rfind("head.", 0) == 0;
    if (it == remaining.end() || (isHead && (dropHead || it->second.sizes() != target.sizes()))) {
      if (!isHead)
        throw ConfigError(fmt::format("{}: no tensor for {} (another backbone?)", source, name));
      report.skipped.push_back(name);
      if (it != remaining.end()) remaining.erase(it);
      return;
    }
    if (it->second.sizes() != target.sizes()) {
      throw ConfigError(fmt::format("{}: {} has shape {}, the model needs {} (another backbone?)",
                                    source, name, shapeOf(it->second), shapeOf(target)));
    }
    target.copy_(it->second.to(target.dtype()));
    remaining.erase(it);
    ++report.loaded;
  };
  for (auto& item : model->named_parameters()) assign(item.key(), item.value());
  for (auto& item : model->named_buffers()) assign(item.key(), item.value());
  if (!remaining.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, tensor] : remaining) names.push_back(name);
    if (names.size() > 5) names.resize(5);
    throw ConfigError(
        fmt::format("{}: {} tensors the model does not have, e.g. {} (another backbone?)", source,
                    remaining.size(), fmt::join(names, ", ")));
  }
  return report;
}

}  // namespace tsn
