#!/usr/bin/env python3
"""Replays the first training steps of a tsn-dist run in PyTorch and compares them.

`tsn_dist --save-steps DIR --max-steps K` saved the starting weights (DIR/initial.pt) and each
rank's batch, LR and loss per step; the run's checkpoint holds the parameters and momentum after
step K. This script builds the same TSN from torchvision's ResNet (tools/reference/tsn_reference.py),
loads the starting weights, and takes the K steps with torch.optim.SGD, with the LR schedule
computed here from the config (linear warmup, step decay, linear scaling) and partial BN /
norm_eval as configured. It checks each step's LR (exactly) and loss, and after the last step
every parameter, BatchNorm statistic and momentum buffer.

Twice: in float32 the way the ranks compute (each rank's batch forward and backward on its own,
gradients summed and averaged: what DDP does), and in float64 as one step over all the ranks'
clips (the exact result: N ranks x b clips are one step of N*b, with BatchNorm per sample). Ours
is compared with the float64 result, and the tolerance is derived, per tensor, from how far
PyTorch's own float32 replay strays from it on this machine and library: at most K = 4 times
that, plus 2 float32 units in the last place of the value (the resolution of a float32 tensor).
Two float32 computations of the same sums stray by rounding of the same order; the factor leaves
room for a different summation order. Nothing is tuned to a CPU: with oneDNN or ATen limited to
AVX2 the float32 replay strays differently, and the tolerance follows.

The PyTorch used must be the one the tsn-dist build links (--expect-torch), since kernels differ
between versions; --report-only compares with any PyTorch and always exits 0 (cross-version
figures, kept out of pass/fail). --perturbations also replays with each of LR, momentum and
weight decay 1% off on the PyTorch side, each of which must then fail: the comparison catches
them. Exit 0 when everything matches (and every perturbation is caught), 1 otherwise, 2 for a PyTorch
of another version than expected.

  step_parity.py DIR CHECKPOINT [--expect-torch 2.11.0] [--perturbations] [--report-only]
"""
import argparse
import glob
import math
import os
import re
import sys
import tomllib

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
from tsn_reference import Tsn, load  # noqa: E402

K = 4


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


class Replay:
    """K steps of PyTorch from the starting weights, in one dtype; `per_rank`: each rank's batch
    on its own and the gradients averaged (as the ranks do), else one batch of all clips."""

    def __init__(self, model_cfg, train, initial, dtype, per_rank, perturb):
        torch.manual_seed(0)
        self.dtype, self.per_rank, self.model_cfg = dtype, per_rank, model_cfg
        self.model = Tsn(model_cfg["backbone"], model_cfg["num_classes"], 0.0)
        self.model.load_ours(initial)
        self.model.to(dtype)
        trainable = list(self.model.parameters())
        if model_cfg["partial_bn"]:
            self.model.configure_bn(True, False)  # fixes requires_grad before the optimizer
            trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.perturb = perturb
        self.optimizer = torch.optim.SGD(
            trainable, lr=0.0, momentum=train["momentum"] * perturb("momentum"),
            weight_decay=train["weight_decay"] * perturb("weight_decay"))
        self.losses = []

    def step(self, saved, lr):
        model = self.model
        model.train()
        model.configure_bn(self.model_cfg["partial_bn"], self.model_cfg.get("norm_eval", False))
        self.optimizer.zero_grad(set_to_none=True)
        batches = ([(s["clips"], s["labels"]) for s in saved] if self.per_rank else
                   [(torch.cat([s["clips"] for s in saved]), torch.cat([s["labels"] for s in saved]))])
        losses = []
        for clips, labels in batches:
            loss = torch.nn.functional.cross_entropy(model(clips.to(self.dtype)), labels)
            loss.backward()  # gradients add up over the ranks' batches
            losses.append(loss.item())
        if len(batches) > 1:
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.mul_(1.0 / len(batches))
        self.losses.append(sum(losses) / len(losses))
        for group in self.optimizer.param_groups:
            group["lr"] = lr * self.perturb("lr")
        self.optimizer.step()

    def momentum(self):
        named = self.model.named_like_ours()
        return {name: self.optimizer.state[p]["momentum_buffer"] for name, p in named.items()
                if isinstance(p, torch.nn.Parameter) and p in self.optimizer.state}


def error(ours, exact, single):
    """How much of its tolerance `ours` uses: |ours - exact| against K times how far PyTorch's
    float32 replay (`single`) strays from the exact result, plus 2 float32 units in the last
    place of the value. > 1 fails."""
    ours, exact, single = ours.double(), exact.double(), single.double()
    stray = (single - exact).abs().max()
    ulp = torch.finfo(torch.float32).eps * torch.maximum(ours.abs(), exact.abs())
    bound = K * stray + 2 * ulp
    return ((ours - exact).abs() / bound.clamp_min(1e-30)).max().item()


def compare(ckpt, steps_dir, steps, ranks, perturbed):
    """Replays the steps (with `perturbed`, a hyper-parameter, 1% off) and compares them with
    ours; returns the summary line and the differences beyond tolerance."""
    config = tomllib.loads(ckpt["config"])
    model_cfg, train, data = config["model"], config["train"], config["data"]
    initial = load(os.path.join(steps_dir, "initial.pt"))
    perturb = lambda name: 1.01 if perturbed == name else 1.0  # noqa: E731
    single = Replay(model_cfg, train, initial, torch.float32, True, perturb)
    exact = Replay(model_cfg, train, initial, torch.float64, False, perturb)
    per_rank = math.ceil(list_length(data["train_list"]) / ranks)
    lr_at = schedule(train, math.ceil(per_rank / train["batch_size"]), ranks)

    failures, worst = [], {"loss": 0.0, "parameter": 0.0, "statistic": 0.0, "momentum": 0.0}
    for step in steps:
        saved = [load(os.path.join(steps_dir, f"rank{r}_step{step:06d}.pt"))
                 for r in range(ranks)]
        lr = lr_at(step - 1)
        if any(s["lr"] != lr and abs(s["lr"] - lr) > 1e-12 * lr for s in saved):
            failures.append(f"step {step}: LR {saved[0]['lr']} vs {lr} computed here")
        single.step(saved, lr)
        exact.step(saved, lr)
        ours = sum(s["loss"] for s in saved) / ranks
        e = error(torch.tensor(ours), torch.tensor(exact.losses[-1]),
                  torch.tensor(single.losses[-1]))
        worst["loss"] = max(worst["loss"], e)
        if e > 1:
            failures.append(f"step {step}: loss {ours} vs PyTorch {exact.losses[-1]} "
                            f"({e:.2f} of the tolerance)")

    same, compared = 0, 0
    named32, named64 = single.model.named_like_ours(), exact.model.named_like_ours()
    for name, reference in named64.items():
        ours = ckpt["model"][name]
        if not reference.is_floating_point():
            if not torch.equal(ours, reference):
                failures.append(f"{name}: {ours.tolist()} vs PyTorch {reference.tolist()}")
            continue
        kind = "parameter" if isinstance(reference, torch.nn.Parameter) else "statistic"
        e = error(ours, reference.detach(), named32[name].detach())
        worst[kind] = max(worst[kind], e)
        compared += 1
        same += torch.equal(ours, named32[name].detach())
        if e > 1:
            failures.append(f"{name}: {kind} differs by {e:.2f} of the tolerance")
    momentum, m32, m64 = ckpt["optimizer"]["momentum"], single.momentum(), exact.momentum()
    for name, reference in m64.items():
        if name not in momentum:
            failures.append(f"{name}: no momentum in the checkpoint")
            continue
        e = error(momentum[name], reference, m32[name])
        worst["momentum"] = max(worst["momentum"], e)
        if e > 1:
            failures.append(f"momentum of {name} differs by {e:.2f} of the tolerance")
    summary = (f"{len(steps)} steps on {ranks} rank(s) vs PyTorch {torch.__version__} "
               f"(ATen {cpu_capability()}, oneDNN limit "
               f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'none')})"
               f"{' perturbed: ' + perturbed + ' 1% off' if perturbed else ''}: share of the "
               f"tolerance used, at most: loss {worst['loss']:.2f}, parameters "
               f"{worst['parameter']:.2f}, BN statistics {worst['statistic']:.2f}, momentum "
               f"{worst['momentum']:.2f}; {same} of {compared} tensors bitwise equal to PyTorch's "
               f"float32 replay")
    return summary, failures


def cpu_capability():
    """The instruction set ATen's own kernels use (ATEN_CPU_CAPABILITY limits it)."""
    if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability"):
        return torch.backends.cpu.get_cpu_capability()
    line = [x for x in torch.__config__.show().splitlines() if "CPU capability usage" in x]
    return line[0].split(":")[-1].strip() if line else "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps_dir")
    parser.add_argument("checkpoint")
    parser.add_argument("--perturbations", action="store_true",
                        help="also replay with LR, momentum and weight decay 1%% off: each "
                             "must then fail")
    parser.add_argument("--expect-torch", help="the LibTorch version the tsn-dist build links")
    parser.add_argument("--report-only", action="store_true",
                        help="print the comparison, exit 0 (another PyTorch version)")
    args = parser.parse_args()
    release = lambda text: re.match(r"\d+\.\d+\.\d+", text).group(0)  # noqa: E731
    if args.expect_torch and release(torch.__version__) != release(args.expect_torch):
        print(f"step_parity: this is PyTorch {torch.__version__}, the build links LibTorch "
              f"{args.expect_torch}: compare a build with the PyTorch it was built against")
        return 2

    ckpt = load(args.checkpoint)
    model_cfg = tomllib.loads(ckpt["config"])["model"]
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
    if ranks > 1 and not model_cfg.get("norm_eval", False):
        sys.exit("step_parity: several ranks need model.norm_eval (BatchNorm per sample)")

    code = 0
    for perturbed in [None] + (["lr", "momentum", "weight_decay"] if args.perturbations else []):
        summary, failures = compare(ckpt, args.steps_dir, steps, ranks, perturbed)
        print(summary)
        if failures:
            print(f"  {len(failures)} differences, first: " + "; ".join(failures[:3]))
        if perturbed is None and failures:
            code = 1
        if perturbed is not None and not failures:
            print(f"  the comparison did not catch {perturbed} 1% off")
            code = 1
    return 0 if args.report_only else code


if __name__ == "__main__":
    sys.exit(main())
