#!/usr/bin/env python3
"""Does a recipe learn its data set every time? Trains `--config` for every train.seed in
--seeds, on every rank count in --ranks, on --sets freshly generated synthetic sets
(tools/data/make_synthetic.sh's recipe, set i made with tsn_synth --seed i), and prints JSON: the final
validation top-1 of every run, min / median per (set, ranks), and the training time.

  tools/reference/recipe_check.py --config configs/synthetic_debug.toml --seeds 0-4 --ranks 1 2 --sets 2

Run from the checkout after tools/dev/build.sh; each run takes what tools/run_main.sh's training
takes (about 40 s on 2 cores).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seeds(text):
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def make_set(index, out):
    if not os.path.exists(os.path.join(out, "val.list")):
        subprocess.run([os.path.join(ROOT, "tools", "make_synthetic.sh"), out, str(index)],
                       check=True, stdout=subprocess.DEVNULL)


def train(config, data, seed, ranks, work):
    command = [os.path.join(ROOT, "build", "bin", "tsn_dist"), "--config", config,
               "--set", f"train.seed={seed}", "--set", f"train.work_dir={work}",
               "--set", f"data.root={data}", "--set", f"data.train_list={data}/train.list",
               "--set", f"data.val_list={data}/val.list"]
    if ranks > 1:
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none",
                   "-x", "OMP_NUM_THREADS=1"] + (["--allow-run-as-root"] if os.getuid() == 0
                                                 else []) + command
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    start = time.monotonic()
    p = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.monotonic() - start
    m = re.search(r"final validation: top1 ([0-9.]+)", p.stdout)
    if p.returncode != 0 or not m:
        sys.exit(f"seed {seed}, {ranks} ranks, {data}: exit {p.returncode}\n{p.stdout[-2000:]}"
                 f"{p.stderr[-2000:]}")
    return float(m.group(1)), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/synthetic_debug.toml")
    parser.add_argument("--seeds", type=seeds, default=seeds("0-4"), help="e.g. 0-4")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sets", type=int, default=2, help="data sets, made with seeds 1..N")
    parser.add_argument("--dir", default="work_dirs/recipe_check")
    args = parser.parse_args()
    results = []
    for index in range(1, args.sets + 1):
        data = os.path.abspath(os.path.join(args.dir, f"set{index}"))
        make_set(index, data)
        for ranks in args.ranks:
            runs = []
            for seed in args.seeds:
                top1, seconds = train(args.config, data, seed, ranks,
                                      os.path.join(args.dir, "runs", f"set{index}_np{ranks}_s{seed}"))
                runs.append({"seed": seed, "top1": top1, "seconds": round(seconds, 1)})
                print(f"set {index}, {ranks} rank(s), seed {seed}: top1 {top1:.3f} "
                      f"({seconds:.0f} s)", file=sys.stderr, flush=True)
            top1s = [r["top1"] for r in runs]
            results.append({"set_seed": index, "ranks": ranks, "runs": runs, "min": min(top1s),
                            "median": statistics.median(top1s),
                            "median_seconds": statistics.median(r["seconds"] for r in runs)})
    print(json.dumps({"config": args.config, "results": results}, indent=2))


if __name__ == "__main__":
    main()
