#!/usr/bin/env python3
"""convert_weights.py: torchvision and MMAction2-named ResNet-18 weights become the same
tsn-dist weights, with torchvision's names under backbone. and the classifier as head.fc.*."""
import os
import re
import subprocess
import sys
import tempfile

import torch
import torchvision

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "weights", "convert_weights.py")


def mmaction2_names(state):
    """The inverse mapping, written independently: torchvision -> MMAction2 ConvModule names."""
    out = {}
    for key, value in state.items():
        if key.startswith("fc."):
            out["cls_head.fc_cls." + key[3:]] = value
            continue
        name = re.sub(r"^conv1\.", "conv1.conv.", key)
        name = re.sub(r"^bn1\.", "conv1.bn.", name)
        name = re.sub(r"(layer\d\.\d+)\.conv(\d)\.", r"\1.conv\2.conv.", name)
        name = re.sub(r"(layer\d\.\d+)\.bn(\d)\.", r"\1.conv\2.bn.", name)
        name = re.sub(r"\.downsample\.0\.", ".downsample.conv.", name)
        name = re.sub(r"\.downsample\.1\.", ".downsample.bn.", name)
        out["backbone." + name] = value
    out["data_preprocessor.mean"] = torch.zeros(3)  # MMAction2 extras are ignored
    return out


def convert(kind, path, out):
    subprocess.run([sys.executable, TOOL, "--from", kind, path, out], check=True)
    return torch.load(out)


def main():
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(num_classes=7).state_dict()
    with tempfile.TemporaryDirectory() as tmp:
        tv = os.path.join(tmp, "tv.pth")
        torch.save(reference, tv)
        mm = os.path.join(tmp, "mm.pth")
        torch.save({"meta": {"epoch": 100}, "state_dict": mmaction2_names(reference)}, mm)
        a = convert("torchvision", tv, os.path.join(tmp, "a.pt"))
        b = convert("mmaction2", mm, os.path.join(tmp, "b.pt"))
    assert a["format"] == b["format"] == "tsn-dist weights"
    backbone = {k: v for k, v in reference.items() if not k.startswith("fc.")}
    assert set(a["model"]) == {"backbone." + k for k in backbone}, "torchvision keys"
    assert set(b["model"]) == set(a["model"]) | {"head.fc.weight", "head.fc.bias"}, sorted(
        set(b["model"]) ^ set(a["model"]))
    for k, v in backbone.items():
        assert torch.equal(a["model"]["backbone." + k], v), k
        assert torch.equal(b["model"]["backbone." + k], v), k
    assert torch.equal(b["model"]["head.fc.weight"], reference["fc.weight"])
    print(f"converted {len(a['model'])} backbone tensors from torchvision and MMAction2 alike")


if __name__ == "__main__":
    main()
