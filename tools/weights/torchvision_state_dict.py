#!/usr/bin/env python3
"""Writes (or checks) the parameter and buffer names and shapes of torchvision's ResNets.

tests/model/data/<name>.txt holds one line per tensor: `param|buffer backbone.<name> d0xd1x...`
in torchvision's order, without the classifier (fc). The C++ model tests compare our ResNets to
these files; `--check DIR` (run by CTest) verifies the files against the installed torchvision.

    tools/weights/torchvision_state_dict.py --write tests/model/data
    tools/weights/torchvision_state_dict.py --check tests/model/data
"""
import argparse
import pathlib
import sys

import torchvision

DEPTHS = (18, 34, 50, 101, 152)


def describe(depth):
    model = getattr(torchvision.models, f"resnet{depth}")()
    lines = []
    for kind, items in (("param", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, tensor in items:
            if name.startswith("fc."):
                continue
            shape = "x".join(str(d) for d in tensor.shape) or "scalar"
            lines.append(f"{kind} backbone.{name} {shape}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=pathlib.Path, metavar="DIR")
    group.add_argument("--check", type=pathlib.Path, metavar="DIR")
    args = parser.parse_args()
    failures = 0
    for depth in DEPTHS:
        expected = describe(depth)
        if args.write:
            args.write.mkdir(parents=True, exist_ok=True)
            (args.write / f"resnet{depth}.txt").write_text(expected)
            continue
        path = args.check / f"resnet{depth}.txt"
        if not path.exists() or path.read_text() != expected:
            print(f"{path}: differs from torchvision {torchvision.__version__}'s resnet{depth}")
            failures += 1
        else:
            print(f"{path}: matches torchvision {torchvision.__version__} "
                  f"({expected.count(chr(10))} tensors)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
