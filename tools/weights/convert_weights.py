#!/usr/bin/env python3
"""Converts ResNet / TSN weights from other tools into tsn-dist's format, for model.pretrained
or --finetune.

  convert_weights.py --from torchvision resnet50-0676ba61.pth resnet50_imagenet.pt
  convert_weights.py --from mmaction2 tsn_r50_1x1x3_100e_kinetics400_rgb.pth tsn_r50_k400.pt

torchvision: a ResNet state dict (torchvision.models.resnet50(weights=...).state_dict(), or the
.pth files torchvision downloads). Its ImageNet classifier is dropped.
mmaction2: an MMAction2 TSN checkpoint ({"state_dict": ...}) with a ResNet backbone
(backbone.conv1.conv.weight, backbone.layer1.0.conv1.bn.*, ..., cls_head.fc_cls.*); its
classifier becomes head.fc.*.

Output: torch.save({"format": "tsn-dist weights", "source": ..., "model": {name: tensor}}) with
our names (backbone.* = torchvision's ResNet names, head.fc.*), which model.pretrained reads.
"""
import argparse
import re
import sys

import torch


def from_torchvision(state):
    return {"backbone." + k: v for k, v in state.items() if not k.startswith("fc.")}


def mmaction2_name(key):
    """MMAction2's ConvModule names -> torchvision's; None for keys that have no counterpart."""
    if key.startswith("cls_head.fc_cls."):
        return "head.fc." + key[len("cls_head.fc_cls."):]
    if not key.startswith("backbone."):
        return None
    name = key[len("backbone."):]
    name = re.sub(r"^conv1\.conv\.", "conv1.", name)
    name = re.sub(r"^conv1\.bn\.", "bn1.", name)
    name = re.sub(r"\.conv(\d)\.conv\.", r".conv\1.", name)
    name = re.sub(r"\.conv(\d)\.bn\.", r".bn\1.", name)
    name = re.sub(r"\.downsample\.conv\.", ".downsample.0.", name)
    name = re.sub(r"\.downsample\.bn\.", ".downsample.1.", name)
    return "backbone." + name


def from_mmaction2(state):
    out, ignored = {}, []
    for key, value in state.items():
        name = mmaction2_name(key)
        if name is None:
            ignored.append(key)
        else:
            out[name] = value
    if ignored:
        print(f"ignored {len(ignored)} tensors outside backbone and cls_head, e.g. {ignored[0]}",
              file=sys.stderr)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", choices=["torchvision", "mmaction2"], required=True)
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args()
    loaded = torch.load(args.input, map_location="cpu")
    if isinstance(loaded, dict) and "state_dict" in loaded:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(torch.is_tensor(v) for v in loaded.values()):
        sys.exit(f"{args.input}: expected a state dict of name -> tensor")
    # DataParallel / DDP wrappers prefix every name with "module.".
    state = {re.sub(r"^module\.", "", k): v for k, v in loaded.items()}
    model = from_torchvision(state) if args.source == "torchvision" else from_mmaction2(state)
    if not any(k.startswith("backbone.conv1.") for k in model):
        sys.exit(f"{args.input}: no ResNet stem (conv1) found: is it a {args.source} ResNet?")
    torch.save({"format": "tsn-dist weights", "source": f"{args.source}:{args.input}",
                "model": {k: v.contiguous() for k, v in model.items()}}, args.output)
    print(f"{args.output}: {len(model)} tensors from {args.source} {args.input}")


if __name__ == "__main__":
    main()
