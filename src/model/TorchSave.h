#pragma once
/// @file Writing files Python opens with torch.load.

#include <ATen/core/ivalue.h>

#include <filesystem>
#include <vector>

#include "common/Error.h"

namespace tsn {

/// A torch.save file that could not be read: `opened()` false when the file could not be
/// opened at all; otherwise what() is the first line of LibTorch's reason.
class TorchSaveError : public Error {
 public:
  TorchSaveError(bool opened, const std::string& reason) : Error(reason), opened_(opened) {}
  bool opened() const { return opened_; }

 private:
  bool opened_;
};

/// What a torch.save file (ours, or Python's) holds. Throws TorchSaveError.
c10::IValue torchLoad(const std::filesystem::path& file);

/// `value` in torch.save's zip format, its dicts plain: Python's torch.load reads it with
/// weights_only=True (its default since PyTorch 2.6), where torch::pickle_save adds TorchScript
/// type tags (torch.jit._pickle.restore_type_tag) that the safe loader refuses. Lists of ints,
/// floats, bools or tensors would still be written through torch.jit._pickle.build_* globals,
/// which it refuses too: keep them out (tests/launcher/check_checkpoint.py checks the globals).
std::vector<char> torchSave(const c10::IValue& value);

/// torchSave into `file` (its directory created). Error naming the file when it cannot be written.
void torchSave(const c10::IValue& value, const std::filesystem::path& file);

}  // namespace tsn
