#!/usr/bin/env python3
"""Training across 2 emulated nodes (cluster/emulated), one rank each, against PyTorch DDP, as JSON.

Both sides start as a new user starts them: plain `mpirun --hostfile ... --map-by node -np 2
--bind-to none -x OMP_NUM_THREADS=1`, no wrapper and no tuning flags (tsn-dist applies
launcher/multinode.mca itself; DDP runs gloo's defaults). Both train on the same in-memory
synthetic clips (`tsn_bench train`, `tools/bench/bench_pytorch_tsn.py`: the model's speed without
the input pipeline), with the same model, batch, threads and node placement, one run of each side
after the other, `--repeats` times, so that the machine's drift falls on both. For each link rate
the JSON holds every run of both sides, the ratio of each pair, and tsn-dist's own account of the
exchange: the wait for the all-reduce after backward, the exchange alone (the limit: one
all-reduce of all gradients with nothing else running, in the same run) and the share of it
hidden behind backward. `--allreduce` adds `tsn_bench allreduce` on ResNet-50 gradients.

  tools/bench/multinode_bench.py [--rates unlimited,1gbit] [--repeats 3] [--out FILE]

Needs root (it brings the emulated cluster up and takes it down). --torch-site: a PyTorch for the
DDP side (default: tools/gpu/fetch_torch.sh's folder if present; "" for the system's).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMU = os.path.join(ROOT, "cluster", "emulated")
# The setting: ResNet-18 at 112 px, batch 4 per rank, 3 segments, fp32 on the CPU.
DEFAULT_SETS = ["model.backbone=resnet18", "data.target_size=112", "train.batch_size=4",
                "train.precision=fp32", "train.channels_last=false"]


def emulated_env():
    env = dict(os.environ)
    with open("/run/tsn-emulated/env") as f:
        for name, value in re.findall(r"^export (\w+)=(.*)$", f.read(), re.M):
            env[name] = value.strip('"')
    # Nothing of the caller's Open MPI tuning: what a new user's shell has.
    return {k: v for k, v in env.items() if not k.startswith("OMPI_MCA_") or
            k == "OMPI_MCA_plm_rsh_agent"}


def last_json(text):
    start = text.rfind("\n{")
    return json.loads(text[start + 1 if start >= 0 else text.index("{"):])


def mpirun(env, command, exports=()):
    """Plain mpirun, one rank per emulated node."""
    line = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
            "--hostfile", env["TSN_EMU_HOSTFILE"], "--map-by", "node", "-np", "2",
            "-x", "OMP_NUM_THREADS=1"]
    for name in exports:
        line += ["-x", f"{name}={env[name]}"]
    r = subprocess.run(line + command, env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        sys.exit(f"{' '.join(line + command)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return last_json(r.stdout)


def sets(items):
    return sum((["--set", s] for s in items), [])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="unlimited,1gbit",
                        help="link rates, comma-separated ('unlimited': no tc limit)")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--torch-site", default=None)
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "tsn_r50_k400_seg3.toml"))
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="a config override for both sides, after the issue's setting")
    parser.add_argument("--ours", action="append", default=[],
                        help="a config override for tsn-dist only (dist.*)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--allreduce", action="store_true")
    parser.add_argument("--out", default=None)
    a = parser.parse_args()
    site = os.path.join(ROOT, "build-gpu", "python") if a.torch_site is None else a.torch_site
    both = DEFAULT_SETS + a.overrides
    steps = ["--iters", str(a.iters), "--warmup", str(a.warmup)]
    results = {
        "benchmark": "multinode", "nodes": 2, "ranks_per_node": 1,
        "launch": "plain mpirun --hostfile --map-by node --bind-to none, OMP_NUM_THREADS=1",
        "data": "the same in-memory synthetic clips on both sides (no input pipeline)",
        "config": os.path.relpath(a.config, ROOT), "overrides": both, "ours_overrides": a.ours,
        "rates": [],
    }
    try:
        for rate in a.rates.split(","):
            limit = [] if rate == "unlimited" else ["--link-rate", rate]
            subprocess.run([os.path.join(EMU, "up.sh"), "2"] + limit, check=True,
                           stdout=subprocess.DEVNULL)
            env = emulated_env()
            env.update(MASTER_ADDR=env["TSN_EMU_ADDRESSES"].split()[0],
                       GLOO_SOCKET_IFNAME=env["TSN_EMU_IF"])
            ddp_exports = ["MASTER_ADDR", "GLOO_SOCKET_IFNAME"]
            if site and os.path.isdir(os.path.join(site, "torch")):
                env["PYTHONPATH"] = site
                ddp_exports.append("PYTHONPATH")
            entry = {"link_rate": rate, "runs": []}
            if a.allreduce:
                entry["allreduce"] = mpirun(env, [os.path.join(a.build, "bin", "tsn_bench"),
                                                  "allreduce", "--backbone", "resnet50",
                                                  "--iters", "6"])
            for _ in range(a.repeats):
                ours = mpirun(env, [os.path.join(a.build, "bin", "tsn_bench"), "train",
                                    "--config", a.config] + steps + sets(both + a.ours))
                theirs = mpirun(env, [sys.executable,
                                      os.path.join(ROOT, "tools", "bench", "bench_pytorch_tsn.py"),
                                      "--config", a.config] + steps + sets(both), ddp_exports)
                entry["runs"].append({"tsn_dist": ours, "pytorch_ddp": theirs,
                                      "clips_per_s_vs_ddp":
                                          ours["clips_per_s"] / theirs["clips_per_s"]})
                print(f"[multinode] {rate}: tsn-dist {ours['clips_per_s']:.2f} clips/s (wait "
                      f"{ours['reduce_wait_s']:.3f} s/step, hidden "
                      f"{100 * ours['exchange_hidden_share']:.0f}%), DDP "
                      f"{theirs['clips_per_s']:.2f}", file=sys.stderr)
            ratios = [r["clips_per_s_vs_ddp"] for r in entry["runs"]]
            hidden = [r["tsn_dist"]["exchange_hidden_share"] for r in entry["runs"]]
            entry["summary"] = {
                "tsn_dist_clips_per_s": [r["tsn_dist"]["clips_per_s"] for r in entry["runs"]],
                "ddp_clips_per_s": [r["pytorch_ddp"]["clips_per_s"] for r in entry["runs"]],
                "vs_ddp_median": statistics.median(ratios),
                "vs_ddp_min": min(ratios), "vs_ddp_max": max(ratios),
                "exchange_hidden_share_median": statistics.median(hidden),
            }
            results["rates"].append(entry)
    finally:
        subprocess.run([os.path.join(EMU, "down.sh"), "--quiet"])
    text = json.dumps(results, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
