#!/usr/bin/env python3
"""Compares two tsn-dist checkpoints bitwise (model and momentum) after loading them on the CPU
with torch.load (tools/reference/tsn_reference.py: the safe loader), and loads the first into torchvision's ResNet (strict). JSON on stdout; exit 0
when they are equal, 1 when they differ.

  compare_checkpoints.py A.pt B.pt
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from tsn_reference import load  # noqa: E402


def main():
    a, b = (load(p) for p in sys.argv[1:3])
    differing, compared = [], 0
    for section, get in (("model", lambda c: c["model"]),
                         ("optimizer.momentum", lambda c: c["optimizer"]["momentum"])):
        if get(a).keys() != get(b).keys():
            differing.append(f"{section}: other keys")
            continue
        for name, tensor in get(a).items():
            compared += 1
            other = get(b)[name]
            if tensor.dtype != other.dtype or not torch.equal(tensor, other):
                differing.append(f"{section}.{name}")
    for key in ("epoch", "iter", "step"):
        if a[key] != b[key]:
            differing.append(f"{key}: {a[key]} vs {b[key]}")
    backbone = getattr(torchvision.models, a["backbone"])()
    backbone.fc = torch.nn.Identity()
    weights = {k[len("backbone."):]: v for k, v in a["model"].items() if k.startswith("backbone.")}
    torchvision_ok = True
    try:
        backbone.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        torchvision_ok = str(e)[:300]
    print(json.dumps({"equal": not differing, "tensors_compared": compared, "step": a["step"],
                      "differing": differing[:20], "torchvision_strict_load": torchvision_ok}))
    return 0 if not differing else 1


if __name__ == "__main__":
    sys.exit(main())
