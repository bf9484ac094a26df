#pragma once
/// @file Writing files Python opens with torch.load.

#include <ATen/core/ivalue.h>

#include <vector>

namespace tsn {

/// `value` in torch.save's zip format, its dicts plain: Python's torch.load reads it with
/// weights_only=True (its default since PyTorch 2.6), where torch::pickle_save adds TorchScript
/// type tags (torch.jit._pickle.restore_type_tag) that the safe loader refuses. Lists of ints,
/// floats, bools or tensors would still be written through torch.jit._pickle.build_* globals,
/// which it refuses too: keep them out (tests/python/check_checkpoint.py checks the globals).
std::vector<char> torchSave(const c10::IValue& value);

}  // namespace tsn
