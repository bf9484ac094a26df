#!/usr/bin/env python3
"""Replays the first training steps of a tsn-dist run in PyTorch and compares them.

`tsn_dist --save-steps DIR --max-steps K` saved the starting weights (DIR/initial.pt) and each
rank's batch, LR and loss per step; the run's checkpoint holds the parameters and momentum after
step K. This script builds the same TSN from torchvision's ResNet (tools/tsn_reference.py),
loads the starting weights, and takes K steps with torch.optim.SGD on each step's batch (the
ranks' batches concatenated: N ranks x b clips is one step of N*b), with the LR schedule
computed here from the config (linear warmup, step decay, linear scaling) and partial BN /
norm_eval as configured. It checks, per step, the LR (exact) and the loss, and after the last
step every parameter's update, every BatchNorm statistic and every momentum buffer.

Tolerance, per tensor: momentum within 1e-4 of its largest PyTorch value, losses within 1e-5
(relative); an update (the change from the starting weights, also of BatchNorm statistics)
within 1e-4 of the largest PyTorch update plus 2 float32 units in the last place of the weight,
the resolution a float32 weight's change is measured with. One rank matches PyTorch bitwise here;
2 x b against 1 x 2b sums in another order (measured: momentum 1.5e-6, updates 0.18 of the
tolerance after 3 steps). --perturb lr|momentum|weight_decay changes that hyper-parameter of the PyTorch
side by 1% to show the comparison catches it. Exit 0 when everything matches, 1 otherwise.

  step_parity.py DIR CHECKPOINT [--perturb lr]
"""
import argparse
import glob
import math
import os
import re
import sys
import tomllib

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from tsn_reference import Tsn, load  # noqa: E402

TOLERANCE = 1e-4
LOSS_TOLERANCE = 1e-5


def list_length(path):
    with open(path) as f:
        return sum(1 for line in f if line.strip() and not line.lstrip().startswith("#"))


def schedule(train, iters_per_epoch, ranks):
    """tsn-dist's LR per 0-based step, written from its documented behaviour."""
    lr = train["lr"]
    if train.get("lr_reference_batch", 0) > 0:
        lr *= train["batch_size"] * ranks / train["lr_reference_batch"]
    warmup = round(train.get("warmup_epochs", 0) * iters_per_epoch)

    def at(step):
        value = lr * train["lr_decay"] ** sum(step // iters_per_epoch >= e
                                              for e in train["lr_decay_epochs"])
        return value * (step + 1) / warmup if step < warmup else value
    return at


def update_error(start, ours, reference):
    """How much of the tolerance the largest difference between two updates (ours - start,
    reference - start) uses: TOLERANCE of the largest reference update, plus 2 float32 units in
    the last place of the value, the resolution an update of a float32 tensor is measured with."""
    start, ours, reference = start.double(), ours.double(), reference.double()
    delta = reference - start
    ulp = torch.finfo(torch.float32).eps * torch.maximum(start.abs(), reference.abs())
    bound = TOLERANCE * delta.abs().max() + 2 * ulp
    return ((ours - reference).abs() / bound.clamp_min(1e-30)).max().item()


def relative_error(ours, reference):
    scale = reference.abs().max().item()
    diff = (ours.double() - reference.double()).abs().max().item()
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps_dir")
    parser.add_argument("checkpoint")
    parser.add_argument("--perturb", choices=["lr", "momentum", "weight_decay"])
    args = parser.parse_args()

    ckpt = load(args.checkpoint)
    config = tomllib.loads(ckpt["config"])
    model_cfg, train, data = config["model"], config["train"], config["data"]
    if model_cfg["width"] != 64 or model_cfg["dropout"] != 0:
        sys.exit("step_parity: needs model.width = 64 (torchvision) and model.dropout = 0")
    files = sorted(glob.glob(os.path.join(args.steps_dir, "rank*_step*.pt")))
    ranks = len({re.search(r"rank(\d+)_", f).group(1) for f in files})
    steps = sorted({int(re.search(r"_step(\d+)", f).group(1)) for f in files})
    if not steps or steps != list(range(1, len(steps) + 1)) or ranks != ckpt["world_size"]:
        sys.exit(f"step_parity: {args.steps_dir}: steps {steps} from {ranks} ranks, "
                 f"checkpoint of {ckpt['world_size']} ranks")
    if ckpt["step"] != steps[-1]:
        sys.exit(f"step_parity: checkpoint at step {ckpt['step']}, steps saved to {steps[-1]}")

    torch.manual_seed(0)
    model = Tsn(model_cfg["backbone"], model_cfg["num_classes"], 0.0)
    initial = load(os.path.join(args.steps_dir, "initial.pt"))
    model.load_ours(initial)
    factor = {"lr": 1.01, "momentum": 1.01, "weight_decay": 1.01}
    perturb = lambda name: factor[name] if args.perturb == name else 1.0  # noqa: E731
    trainable = [p for p in model.parameters()]
    if model_cfg["partial_bn"]:
        model.configure_bn(True, False)  # fixes requires_grad before the optimizer sees them
        trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.0, momentum=train["momentum"] * perturb("momentum"),
                                weight_decay=train["weight_decay"] * perturb("weight_decay"))
    per_rank = math.ceil(list_length(data["train_list"]) / ranks)
    lr_at = schedule(train, math.ceil(per_rank / train["batch_size"]), ranks)

    failures, worst = [], {"loss": 0.0}
    for step in steps:
        saved = [load(os.path.join(args.steps_dir, f"rank{r}_step{step:06d}.pt"))
                 for r in range(ranks)]
        lr = lr_at(step - 1)
        if any(s["lr"] != lr and abs(s["lr"] - lr) > 1e-12 * lr for s in saved):
            failures.append(f"step {step}: LR {saved[0]['lr']} vs {lr} computed here")
        clips = torch.cat([s["clips"] for s in saved])
        labels = torch.cat([s["labels"] for s in saved])
        model.train()
        model.configure_bn(model_cfg["partial_bn"], model_cfg.get("norm_eval", False))
        loss = torch.nn.functional.cross_entropy(model(clips), labels)
        ours = sum(s["loss"] for s in saved) / ranks
        error = abs(ours - loss.item()) / abs(loss.item())
        worst["loss"] = max(worst["loss"], error)
        if error > LOSS_TOLERANCE:
            failures.append(f"step {step}: loss {ours} vs PyTorch {loss.item()}")
        for group in optimizer.param_groups:
            group["lr"] = lr * perturb("lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    named = model.named_like_ours()
    checks = {"update": 0.0, "statistic": 0.0, "momentum": 0.0}
    for name, reference in named.items():
        ours = ckpt["model"][name]
        if not reference.is_floating_point():
            if not torch.equal(ours, reference):
                failures.append(f"{name}: {ours.tolist()} vs PyTorch {reference.tolist()}")
            continue
        kind = "update" if isinstance(reference, torch.nn.Parameter) else "statistic"
        error = update_error(initial[name], ours, reference.detach())
        checks[kind] = max(checks[kind], error)
        if error > 1:
            failures.append(f"{name}: {kind} differs by {error:.2f} of the tolerance")
    momentum = ckpt["optimizer"]["momentum"]
    for name, p in named.items():
        if isinstance(p, torch.nn.Parameter) and p in optimizer.state:
            if name not in momentum:
                failures.append(f"{name}: no momentum in the checkpoint")
                continue
            error = relative_error(momentum[name], optimizer.state[p]["momentum_buffer"])
            checks["momentum"] = max(checks["momentum"], error)
            if error > TOLERANCE:
                failures.append(f"momentum of {name} differs by {error:.2e} of its size")
    summary = (f"{len(steps)} steps on {ranks} rank(s) vs PyTorch {torch.__version__}"
               f"{' (perturbed: ' + args.perturb + ')' if args.perturb else ''}: loss "
               f"{worst['loss']:.1e} and momentum {checks['momentum']:.1e} (largest relative "
               f"differences, tolerance {LOSS_TOLERANCE:g} and {TOLERANCE:g}); updates "
               f"{checks['update']:.2f} and BN statistics {checks['statistic']:.2f} of their "
               f"tolerance")
    print(summary)
    if failures:
        print(f"{len(failures)} differences, first: " + "; ".join(failures[:3]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
