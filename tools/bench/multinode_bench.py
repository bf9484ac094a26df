#!/usr/bin/env python3
"""Network-bound scaling on 2 emulated nodes (cluster/emulated), one rank each, as JSON.

For each link rate: `tsn_bench allreduce` (ResNet-50 gradients: the bucketed reducer, one
contiguous all-reduce, bus bandwidth as a share of the link rate, the share of the reduction
hidden behind backward) and training throughput of `tsn_bench train` against PyTorch DDP
(tools/bench/bench_pytorch_tsn.py, gloo) on the same nodes, model, batch and clips. Both start
through launcher/tsn_mpirun, so the launcher's multi-node defaults (launcher/multinode.mca) apply.

  tools/bench/multinode_bench.py [--rates 1gbit,10gbit] [--torch-site DIR] [--out FILE]

Needs root (it brings the emulated cluster up and takes it down). --torch-site: a PyTorch for
the DDP side (default: tools/gpu/fetch_torch.sh's folder if present, else the system's).
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMU = os.path.join(ROOT, "cluster", "emulated")


def rate_gbit(rate):
    value, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", rate.lower()).groups()
    return float(value) * {"gbit": 1.0, "mbit": 1e-3}[unit]


def emulated_env():
    env = dict(os.environ)
    with open("/run/tsn-emulated/env") as f:
        for name, value in re.findall(r"^export (\w+)=(.*)$", f.read(), re.M):
            env[name] = value.strip('"')
    return env


def last_json(text):
    start = text.rfind("\n{")
    return json.loads(text[start + 1 if start >= 0 else text.index("{"):])


def launch(env, binary, args, cpus):
    command = [os.path.join(ROOT, "launcher", "tsn_mpirun"), "--ranks-per-node", "1",
               "--cpus-per-rank", str(cpus), "--bind", "none", "--hostfile",
               env["TSN_EMU_HOSTFILE"], "--net-if", env["TSN_EMU_IF"], "--binary", binary, "--"]
    r = subprocess.run(command + args, env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        sys.exit(f"{' '.join(command + args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return last_json(r.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1gbit,10gbit")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--torch-site", default=None)
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--train-iters", type=int, default=10)
    parser.add_argument("--out", default=None)
    a = parser.parse_args()
    site = a.torch_site or os.path.join(ROOT, "build-gpu", "python")
    train_config = os.path.join(ROOT, "configs", "tsn_r50_k400_seg3.toml")
    # The setting: ResNet-18 at 112 px, batch 4 per rank, 3 segments, fp32 on the CPU.
    train_sets = ["model.backbone=resnet18", "data.target_size=112", "train.batch_size=4",
                  "train.precision=fp32", "train.channels_last=false"]
    cpus = max(1, os.cpu_count() // 2)
    results = {"benchmark": "multinode", "nodes": 2, "ranks_per_node": 1, "rates": []}
    try:
        for rate in a.rates.split(","):
            subprocess.run([os.path.join(EMU, "up.sh"), "2", "--link-rate", rate], check=True)
            env = emulated_env()
            env["OMP_NUM_THREADS"] = str(cpus)
            ar = launch(env, os.path.join(a.build, "bin", "tsn_bench"),
                        ["allreduce", "--backbone", "resnet50", "--iters", str(a.iters)], cpus)
            n = ar["ranks"]
            bus = 2 * (n - 1) / n  # bytes each rank sends per byte reduced (ring)
            limit = rate_gbit(rate)
            contiguous = ar["contiguous_gb_per_s"] * 8 * bus
            bucketed = ar["bucketed_gb_per_s"] * 8 * bus
            ours = launch(env, os.path.join(a.build, "bin", "tsn_bench"),
                          ["train", "--config", train_config, "--iters", str(a.train_iters)] +
                          sum((["--set", s] for s in train_sets), []), cpus)
            ddp_env = dict(env, MASTER_ADDR=env["TSN_EMU_ADDRESSES"].split()[0],
                           GLOO_SOCKET_IFNAME=env["TSN_EMU_IF"])
            if os.path.isdir(os.path.join(site, "torch")):
                ddp_env["PYTHONPATH"] = site
            theirs = launch(ddp_env, sys.executable,
                            [os.path.join(ROOT, "tools", "bench", "bench_pytorch_tsn.py"),
                             "--config", train_config, "--iters", str(a.train_iters)] +
                            sum((["--set", s] for s in train_sets), []), cpus)
            results["rates"].append({
                "link_rate": rate,
                "allreduce": ar,
                "contiguous_bus_gbit_per_s": contiguous,
                "bucketed_bus_gbit_per_s": bucketed,
                "contiguous_share_of_link": contiguous / limit,
                "bucketed_share_of_link": bucketed / limit,
                "hidden_share": ar["communication_hidden_share"],
                "train_tsn_dist": ours,
                "train_pytorch_ddp": theirs,
                "clips_per_s_vs_ddp": ours["clips_per_s"] / theirs["clips_per_s"],
            })
            print(f"[multinode] {rate}: bucketed {bucketed:.2f} Gbit/s "
                  f"({100 * bucketed / limit:.0f}% of the link), contiguous {contiguous:.2f}, "
                  f"hidden {100 * ar['communication_hidden_share']:.0f}%; train "
                  f"{ours['clips_per_s']:.2f} vs DDP {theirs['clips_per_s']:.2f} clips/s",
                  file=sys.stderr)
    finally:
        subprocess.run([os.path.join(EMU, "down.sh"), "--quiet"])
    text = json.dumps(results, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
