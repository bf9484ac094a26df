#!/usr/bin/env python3
"""Opens a tsn-dist checkpoint with torch.load, builds torchvision's ResNet with its backbone
weights and a linear classifier with head.fc.*, runs the clips tsn_infer saved (--save-inputs)
and compares with the logits tsn_infer wrote (--logits). Exit 0 and "N videos: logits match".

Both files must also open with PyTorch's safe loader (torch.load(weights_only=True), the default
since PyTorch 2.6): tools/reference/tsn_reference.py's load() checks every global their pickles name.

  check_checkpoint.py CHECKPOINT INPUTS.pt INFER.jsonl
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
from tsn_reference import load  # noqa: E402


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
