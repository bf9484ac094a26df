#!/usr/bin/env python3
"""Opens a tsn-dist checkpoint with torch.load, builds torchvision's ResNet with its backbone
weights and a linear classifier with head.fc.*, runs the clips tsn_infer saved (--save-inputs)
and compares with the logits tsn_infer wrote (--logits). Exit 0 and "N videos: logits match".

Both files must also open with PyTorch's safe loader (torch.load(weights_only=True), the default
since PyTorch 2.6): their pickles may name no global but tensor rebuilding and storages. Checked
on the pickle itself, since PyTorch 1.13's safe loader cannot read floats at all.

  check_checkpoint.py CHECKPOINT INPUTS.pt INFER.jsonl
"""
import json
import pickletools
import sys
import zipfile

import torch
import torchvision


SAFE_GLOBALS = {"torch._utils._rebuild_tensor_v2", "collections.OrderedDict"}


def check_safe_globals(path):
    """Every global the pickle in a torch.save zip names is one weights_only=True allows."""
    with zipfile.ZipFile(path) as z:
        pickle = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    strings = []
    for op, arg, _ in pickletools.genops(pickle):
        if op.name == "GLOBAL":
            name = arg.replace(" ", ".")
        elif op.name == "STACK_GLOBAL":
            name = ".".join(strings[-2:])
        else:
            if isinstance(arg, str):
                strings.append(arg)
            continue
        if name not in SAFE_GLOBALS and not (name.startswith("torch.") and name.endswith("Storage")):
            sys.exit(f"{path}: names {name}, which torch.load(weights_only=True) refuses")


def load(path):
    check_safe_globals(path)
    safe = int(torch.__version__.split(".")[0]) >= 2
    return torch.load(path, map_location="cpu", weights_only=safe)


def main():
    checkpoint, inputs, infer = sys.argv[1:4]
    ckpt = load(checkpoint)
    assert ckpt["format"] == "tsn-dist checkpoint", ckpt.get("format")
    state = ckpt["model"]
    backbone = getattr(torchvision.models, ckpt["backbone"])()
    weights = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    backbone.fc = torch.nn.Identity()
    backbone.load_state_dict(weights, strict=True)  # every torchvision tensor, nothing else
    fc = torch.nn.Linear(state["head.fc.weight"].shape[1], ckpt["num_classes"])
    fc.load_state_dict({"weight": state["head.fc.weight"], "bias": state["head.fc.bias"]})
    backbone.eval()

    saved = load(inputs)
    clips, videos = saved["clips"], saved["videos"]
    with torch.no_grad():
        n, t = clips.shape[:2]
        logits = fc(backbone(clips.flatten(0, 1))).view(n, t, -1).mean(1)

    expected = {}
    with open(infer) as f:
        for line in f:
            record = json.loads(line)
            if "logits" in record:
                expected[record["video"]] = torch.tensor(record["logits"])
    assert len(expected) == len(videos), (len(expected), len(videos))
    for i, video in enumerate(videos):
        if not torch.allclose(logits[i], expected[video], rtol=1e-4, atol=1e-4):
            sys.exit(f"{video}: torchvision {logits[i].tolist()} vs tsn_infer {expected[video].tolist()}")
    print(f"{len(videos)} videos: logits match (max abs diff "
          f"{max((logits[i] - expected[v]).abs().max().item() for i, v in enumerate(videos)):.2e})")


if __name__ == "__main__":
    main()
