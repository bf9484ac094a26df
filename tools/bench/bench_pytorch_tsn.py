#!/usr/bin/env python3
"""Training steps/s of the same TSN in PyTorch, for comparison with `tsn_bench train`.

Reads the model, batch, precision and layout from the same TOML config (and --set overrides),
builds torchvision's ResNet with TSN's head (tools/reference/tsn_reference.py), and times
forward + fp32 loss + backward + SGD on one batch held on the device. JSON on stdout.

Started by mpirun with several ranks (OMPI_COMM_WORLD_SIZE > 1), it trains with
DistributedDataParallel over gloo (MASTER_ADDR names rank 0's address, MASTER_PORT its port,
default 29511; GLOO_SOCKET_IFNAME the interface), each rank on its own batch, and
counts every rank's clips: what `tsn_bench train` under mpirun measures. --bucket-mb sets DDP's
bucket_cap_mb (default: DDP's own, 25).

  build/bin/tsn_bench train --config configs/tsn_r50_k400_seg3.toml --set train.precision=bf16
  tools/bench/bench_pytorch_tsn.py --config configs/tsn_r50_k400_seg3.toml --set train.precision=bf16
"""
import argparse
import contextlib
import json
import os
import sys
import time
import tomllib

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from tsn_reference import Tsn  # noqa: E402


def load_config(path, overrides):
    with open(path, "rb") as f:
        config = tomllib.load(f)
    for item in overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        config.setdefault(section, {})[name] = parsed
    return config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0,
                        help="time-boxed: timed steps until this many seconds have passed "
                        "(at least one; one process only) instead of --iters")
    parser.add_argument("--bucket-mb", type=float, default=25.0)
    args = parser.parse_args()
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    if world > 1:
        os.environ.setdefault("MASTER_PORT", "29511")
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    config = load_config(args.config, args.overrides)
    model_cfg, train_cfg = config.get("model", {}), config.get("train", {})
    if model_cfg.get("width", 64) != 64:
        sys.exit(f"{args.config}: model.width must be 64 to compare with torchvision's ResNet")
    backbone = model_cfg.get("backbone", "resnet50")
    segments = model_cfg.get("seg_num", 3) * model_cfg.get("seglen", 1)
    num_classes = model_cfg.get("num_classes", 400)
    batch = train_cfg.get("batch_size", 32)
    size = config.get("data", {}).get("target_size", 224)
    precision = train_cfg.get("precision", "fp32")
    channels_last = train_cfg.get("channels_last", False)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if precision == "fp16" and device.type != "cuda":
        sys.exit("train.precision: fp16 needs a GPU")
    torch.backends.cudnn.benchmark = train_cfg.get("cudnn_benchmark", True)
    torch.manual_seed(0)
    model = Tsn(backbone, num_classes, model_cfg.get("dropout", 0.5)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    net = model
    if world > 1:
        if channels_last:
            sys.exit("train.channels_last: not with DistributedDataParallel here")
        net = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb)
    sgd = torch.optim.SGD(model.parameters(), lr=train_cfg.get("lr", 0.01),
                          momentum=train_cfg.get("momentum", 0.9),
                          weight_decay=train_cfg.get("weight_decay", 1e-4))
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):  # PyTorch >= 2.3
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    else:
        scaler = torch.cuda.amp.GradScaler(enabled=precision == "fp16")
    clips = torch.randn(batch, segments, 3, size, size, device=device)
    labels = torch.randint(num_classes, (batch,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def step():
        # fp32: no autocast at all (PyTorch 1.13 refuses a CPU autocast of float32 even when
        # it is disabled).
        with (torch.autocast(device.type, dtype=dtype) if dtype is not None
              else contextlib.nullcontext()):
            if world > 1:
                scores = net(clips)  # DDP's forward prepares its reducer for backward
            else:
                frames = clips.flatten(0, 1)
                if channels_last:
                    frames = frames.contiguous(memory_format=torch.channels_last)
                n = clips.shape[0]
                scores = model.fc(model.dropout(model.backbone(frames)))
                scores = scores.view(n, segments, -1).mean(1)
        loss = torch.nn.functional.cross_entropy(scores.float(), labels)
        sgd.zero_grad(set_to_none=True)  # the default since PyTorch 2.0, and what ours does
        scaler.scale(loss).backward()
        scaler.step(sgd)
        scaler.update()
        return loss

    if args.seconds > 0 and world > 1:
        sys.exit("bench_pytorch_tsn: --seconds runs one process (ranks would take different "
                 "numbers of steps)")
    for _ in range(args.warmup):
        step().item()
    start = time.perf_counter()
    iters = 0
    while (iters < args.iters if args.seconds <= 0
           else iters == 0 or time.perf_counter() - start < args.seconds):
        loss = step()
        iters += 1
    last_loss = loss.item()  # waits for the device
    if world > 1:
        torch.distributed.barrier()
    seconds = time.perf_counter() - start
    if rank != 0:
        return
    print(json.dumps({
        "benchmark": "train",
        "implementation": f"PyTorch {torch.__version__}",
        "device": str(device),
        "ranks": world,
        "backend": "gloo (DDP)" if world > 1 else "none",
        "bucket_mb": args.bucket_mb if world > 1 else None,
        "backbone": backbone,
        "seg_num": model_cfg.get("seg_num", 3),
        "batch": batch,
        "size": size,
        "precision": precision,
        "channels_last": channels_last,
        "iters": iters,
        "seconds_per_step": seconds / iters,
        "clips_per_s": batch * world * iters / seconds,
        "last_loss": last_loss,
    }, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
