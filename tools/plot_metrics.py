#!/usr/bin/env python3
"""Draws loss, learning rate and top-1 curves from a tsn-dist metric log into a PNG.

  tools/plot_metrics.py work_dirs/synthetic_debug/metrics.jsonl curves.png

Several logs (e.g. two runs) may be given before the output; each gets its own line, labelled
with its directory.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    train, val = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not JSON: {e}")
            if record.get("mode") == "train":
                train.append(record)
            elif record.get("mode") == "val":
                val.append(record)
    if not train and not val:
        sys.exit(f"{path}: no train or val records")
    return train, val


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="metrics.jsonl files")
    parser.add_argument("output", help="PNG file to write")
    args = parser.parse_args()
    fig, (loss_ax, lr_ax, top1_ax) = plt.subplots(1, 3, figsize=(15, 4))
    for path in args.logs:
        label = os.path.basename(os.path.dirname(os.path.abspath(path)))
        train, val = read(path)
        steps = [r["step"] for r in train]
        loss_ax.plot(steps, [r["loss"] for r in train], label=label)
        lr_ax.plot(steps, [r["lr"] for r in train], label=label)
        top1_ax.plot(steps, [r["top1"] for r in train], alpha=0.4, label=f"{label} train")
        if val:
            top1_ax.plot([r["step"] for r in val], [r["top1"] for r in val], marker="o",
                         label=f"{label} val")
    loss_ax.set(title="training loss", xlabel="step")
    lr_ax.set(title="learning rate", xlabel="step")
    top1_ax.set(title="top-1 (train: per log window; val: after epochs)", xlabel="step",
                ylim=(0, 1))
    for ax in (loss_ax, lr_ax, top1_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"{args.output}: curves of {', '.join(args.logs)}")


if __name__ == "__main__":
    main()
