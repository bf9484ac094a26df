#!/usr/bin/env python3
"""Draws loss, learning rate and top-1 curves from a tsn-dist metric log into a PNG, and beside
them where each rank's training time went (stacked: data wait, forward + backward, all-reduce
wait, optimizer, validation and checkpoint pauses).

  tools/observe/plot_metrics.py work_dirs/synthetic_debug/metrics.jsonl curves.png
  tools/observe/plot_metrics.py --breakdown work_dirs/x/metrics.jsonl    # the time breakdown as JSON

Several logs (e.g. two runs) may be given before the output; each gets its own line, labelled
with its directory; the time breakdown is the first log's.
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


PHASES = [("data_wait_s", "data wait"), ("forward_backward_s", "forward + backward"),
          ("allreduce_wait_s", "all-reduce wait"), ("optimizer_s", "optimizer"),
          ("pause_s", "validation / checkpoint")]


def breakdown(train):
    """Seconds per phase and rank summed over the run, and how often each rank was the slowest."""
    totals, slowest = {}, {}
    for r in train:
        per_rank, steps = r.get("step_time_per_rank"), r.get("window_steps", 0)
        if not per_rank:
            continue
        for key, _ in PHASES:
            values = per_rank.get(key, [])
            row = totals.setdefault(key, [0.0] * len(values))
            for rank, v in enumerate(values):
                row[rank] += v * steps
        if "slowest_rank" in r:
            name = str(r["slowest_rank"])
            cause = slowest.setdefault(name, {})
            cause[r["slowest_cause"]] = cause.get(r["slowest_cause"], 0) + 1
    return {"seconds": totals, "slowest_windows": slowest}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breakdown", action="store_true",
                        help="print the first log's time breakdown as JSON instead of drawing")
    parser.add_argument("logs", nargs="+", help="metrics.jsonl files (then the PNG to write)")
    args = parser.parse_args()
    if args.breakdown:
        print(json.dumps(breakdown(read(args.logs[0])[0])))
        return
    if len(args.logs) < 2:
        parser.error("give the metric logs, then the PNG to write")
    args.logs, args.output = args.logs[:-1], args.logs[-1]
    fig, (loss_ax, lr_ax, top1_ax, time_ax) = plt.subplots(1, 4, figsize=(20, 4))
    first = breakdown(read(args.logs[0])[0])
    ranks = max((len(v) for v in first["seconds"].values()), default=0)
    bottom = [0.0] * ranks
    for key, label in PHASES:
        values = first["seconds"].get(key, [0.0] * ranks)
        time_ax.bar([str(r) for r in range(ranks)], values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    most = max(first["slowest_windows"].items(), key=lambda kv: sum(kv[1].values()), default=None)
    time_ax.set(xlabel="rank", ylabel="seconds",
                title="training time by rank" + (f" (slowest most often: rank {most[0]})"
                                                 if most else ""))
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
    for ax in (loss_ax, lr_ax, top1_ax, time_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"{args.output}: curves of {', '.join(args.logs)}")


if __name__ == "__main__":
    main()
