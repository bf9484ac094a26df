#pragma once
/// @file Writing files Python opens with torch.load.

#include <ATen/core/ivalue.h>

#include <vector>

namespace tsn {

/// `value` in torch.save's zip format, as plain dicts, lists and tensors: Python's torch.load
/// reads it with weights_only=True (its default since PyTorch 2.6). torch::pickle_save would
/// add TorchScript type tags (torch.jit._pickle.restore_type_tag) that the safe loader refuses.
std::vector<char> torchSave(const c10::IValue& value);

}  // namespace tsn
