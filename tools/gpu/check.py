#!/usr/bin/env python3
"""The GPU check's steps (tools/gpu/check.sh sets up the environment and calls this).

The steps run in check_support.PLAN's order, each with its own cap inside one overall budget
and a minimum start (less left: not_run); each records what it measured and a status in
OUT/check.json (rewritten after every step, so a run cut short keeps what it did):
  passed / failed  the step ran and met / missed its criterion
  not_run          the step (or the CUDA part of it) could not run here: never counted as passed

  environment   GPU, driver, torch, the bundle's manifest; every bundle program loads
  train_e2e     single-GPU tsn_dist on a synthetic set: learns, clips/s, data-wait share,
                peak GPU memory; tsn_eval of its best checkpoint
  bench         tsn_bench train (our step) vs tools/bench/bench_pytorch_tsn.py, fp32 and
                bf16 + channels_last; ratio ours / PyTorch (what one run measured is kept)
  resume_fp16   a GPU checkpoint resumed equals the uninterrupted run bitwise and loads on
                the CPU; fp16 with loss scaling trains without skipping every step
  cuda_tests    the CUDA-labelled CTest tests of the bundle (tests.json) that need no mpirun
  nccl_mpi      those that run under mpirun (NCCL and Open MPI), last
Every command runs in its own process group (killed as one on its timeout) with NCCL_DEBUG=WARN;
warning lines of every output go to OUT/warnings.log and are counted in check.json.

In CPU mode (--mode cpu: no GPU, e.g. on the machine that prepared the bundle) the same steps
run at a small size; whatever needs a GPU is reported not_run.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time

from check_support import (DEFAULT_BUDGET_S, PLAN, SIZES, GpuMemorySampler, count_lines,
                           data_overrides, is_finite, last_json_object, read_jsonl, run_group,
                           tree_problem, warning_lines)
from check_bench import bench_step
from check_tests import bundle_tests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "tsn_r50_k400_seg3.toml")

class Check:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.size = SIZES[self.mode]
        self.bundle = os.path.abspath(args.bundle)
        self.out = os.path.abspath(args.out)
        self.work = os.path.abspath(args.work)
        self.deadline = time.monotonic() + args.budget_s
        self.step_deadline = self.deadline
        self.python = sys.executable
        self.log = open(os.path.join(self.out, "commands.log"), "w")
        self.warnings = open(os.path.join(self.out, "warnings.log"), "w")
        self.result = {"mode": self.mode, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       "budget_s": args.budget_s, "warning_lines": 0, "steps": {}}

    # -- plumbing ------------------------------------------------------------------------------
    def save(self):
        with open(os.path.join(self.out, "check.json"), "w") as f:
            json.dump(self.result, f, indent=2)

    def remaining(self):
        """Seconds left to the running step (its cap, within the whole budget)."""
        return min(self.deadline, self.step_deadline) - time.monotonic()

    def run(self, command, timeout, env=None, cwd=None):
        """Runs a command (list), its output into commands.log; returns (rc, output). Python
        runs with the machine's own library path, the bundle's programs with env.sh's."""
        timeout = max(1, min(timeout, self.remaining()))
        if command[0] != self.python:
            env = dict(env or {}, LD_LIBRARY_PATH=os.environ["TSN_BUNDLE_LD_LIBRARY_PATH"])
        self.log.write(f"\n$ {' '.join(command)}\n")
        self.log.flush()
        start = time.monotonic()
        env = dict(os.environ, **(env or {}))
        env.setdefault("NCCL_DEBUG", "WARN")
        rc, output = run_group(command, timeout, env, cwd or self.work)
        warnings = warning_lines(output)
        if warnings:
            self.warnings.write(f"$ {' '.join(command)}\n" + "\n".join(warnings) + "\n")
            self.warnings.flush()
            self.result["warning_lines"] += len(warnings)
        self.log.write(output)
        self.log.write(f"[check] exit {rc} after {time.monotonic() - start:.1f} s\n")
        self.log.flush()
        return rc, output

    def step(self, name, function, cap, min_start):
        print(f"[check] {name} ...", flush=True)
        start = time.monotonic()
        left = self.deadline - start
        self.step_deadline = start + min(cap, left)
        if left < min_start:
            record = {"status": "not_run", "why": f"{left:.0f} s of the budget left; the step "
                      f"needs at least {min_start} s to start"}
        else:
            try:
                record = function()
            except Exception as e:  # a step's own bug must not lose the other steps
                record = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        record["seconds"] = round(time.monotonic() - start, 1)
        record["cap_s"] = cap
        self.result["steps"][name] = record
        self.save()
        print(f"[check] {name}: {record['status']} ({record['seconds']} s)"
              + (f" {record.get('why') or record.get('error') or ''}"), flush=True)
        return record

    def bin(self, name):
        return os.path.join(self.bundle, "bin", name)

    def dist(self, overrides, extra=(), timeout=300, env=None):
        command = [self.bin("tsn_dist"), "--config", CONFIG]
        for o in overrides:
            command += ["--set", o]
        return self.run(command + list(extra), timeout, env)

    # -- steps ---------------------------------------------------------------------------------
    def environment(self):
        info = {"python": sys.version.split()[0]}
        with open(os.path.join(self.bundle, "manifest.json")) as f:
            manifest = json.load(f)
        info["bundle"] = {k: manifest[k] for k in ("built", "git_commit", "versions")}
        try:
            import torch
            info["torch"] = torch.__version__
            info["torch_cuda"] = torch.version.cuda
            info["cudnn"] = torch.backends.cudnn.version()
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception as e:
            info["torch_error"] = str(e)
        rc, smi = self.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                            "--format=csv,noheader"], 30)
        info["nvidia_smi"] = smi.strip() if rc == 0 else None
        info["cpus"] = os.cpu_count()
        missing = []
        for rel in manifest["binaries"]:
            rc, out = self.run(["ldd", os.path.join(self.bundle, rel)], 30)
            missing += [f"{rel}: {line.strip()}" for line in out.splitlines()
                        if "not found" in line]
        info["unresolved_libraries"] = missing
        rc, version = self.run([self.bin("tsn_dist"), "--version"], 60)
        info["tsn_dist"] = version.strip()
        m = re.search(r"(\d+) GPUs? visible", version)
        info["bundle_gpus"] = int(m.group(1)) if m else None
        self.result["environment"] = info
        # The bundle is built against one LibTorch (ABI) and from one tree (tests.json, check.py).
        wanted = manifest["versions"]["torch"]
        problems = [f"{len(missing)} libraries not found"] if missing else []
        if info.get("torch") != wanted:
            problems.append(f"python3's torch is {info.get('torch')}, the bundle needs {wanted}")
        if self.mode == "gpu" and not info.get("gpus"):
            problems.append("GPU mode, but python3's torch sees no GPU")
        if self.mode == "gpu" and not info["bundle_gpus"]:
            problems.append(f"GPU mode, but the bundle's LibTorch sees no GPU: {info['tsn_dist']}")
        # What built the bundle must be what this tree holds (.git does not travel, so file
        # contents are compared); other files (docs, configs, scripts) may differ: warned.
        other_tree, elsewhere = tree_problem(manifest, ROOT)
        if other_tree:
            problems.append(other_tree)
        record = {"status": "failed" if problems else "passed"}
        if elsewhere:
            record["tree_warning"] = (f"{len(elsewhere)} files that do not build the bundle "
                                      f"differ from its tree: {', '.join(elsewhere[:10])}")
        if problems:
            record["why"] = "; ".join(problems)
            record["missing"] = missing[:20]
        return record

    def cuda_tests(self):
        return bundle_tests(self, under_mpirun=False, log_name="tests.log")

    def nccl_mpi(self):
        return bundle_tests(self, under_mpirun=True, log_name="tests_mpi.log")

    def synthetic_set(self):
        data = os.path.join(self.work, "data")
        if not os.path.exists(os.path.join(data, "val.list")):
            rc, out = self.run([self.bin("tsn_synth"), "--out", data, "--val-fraction", "0.25",
                                "--seed", "1", "--fps", "25", "--seconds", "3", "--gop", "25",
                                "--jobs", str(max(1, (os.cpu_count() or 2) - 2))]
                               + self.size["synth"], 240)
            if rc != 0:
                raise RuntimeError(f"tsn_synth failed: {out[-500:]}")
        return data

    def train_e2e(self):
        data = self.synthetic_set()
        work_dir = os.path.join(self.work, "e2e")
        shutil.rmtree(work_dir, ignore_errors=True)
        # One checkpoint, at the end (a ResNet-50 one is ~100 MB: not one per epoch).
        overrides = data_overrides(data) + self.size["train"] + [
            f"train.work_dir={work_dir}", "checkpoint.interval_epochs=0"]
        sampler = GpuMemorySampler() if self.mode == "gpu" else None
        rc, out = self.dist(overrides, timeout=self.remaining() - 20)  # 20 s for tsn_eval
        smi_peak = sampler.stop() if sampler else None
        metrics = read_jsonl(os.path.join(work_dir, "metrics.jsonl"))
        if os.path.exists(os.path.join(work_dir, "metrics.jsonl")):
            shutil.copy(os.path.join(work_dir, "metrics.jsonl"),
                        os.path.join(self.out, "e2e_metrics.jsonl"))
        train = [m for m in metrics if m.get("mode") == "train"]
        val = [m for m in metrics if m.get("mode") == "val"]
        record = {"exit": rc, "settings": self.size["train"], "train_videos": count_lines(
            os.path.join(data, "train.list")), "val_videos": count_lines(
            os.path.join(data, "val.list"))}
        if rc != 0 or not train or not val:
            record.update(status="failed", why=f"tsn_dist exit {rc}", tail=out[-1500:])
            return record
        steady = train[1:] or train  # the first window holds start-up (cuDNN autotuning)
        # Rank 0's window time counts validation and checkpoint pauses since the step
        # telemetry; the data wait share is of the time spent training.
        window_s = sum(m.get("window_s", 0) - m.get("step_time_per_rank", {}).get(
            "pause_s", [0])[0] * m.get("window_steps", 0) for m in steady)
        wait_s = sum(m.get("data_wait_s", 0) for m in steady)
        steps = sum(m.get("window_steps", 0) for m in steady)
        phases = {key: sum(m["step_time"][key] * m["window_steps"] for m in steady
                           if "step_time" in m) / steps
                  for key in steady[0].get("step_time", {})} if steps else {}
        record.update({
            "step_time_s": phases,
            "val_top1": [round(m["top1"], 4) for m in val],
            "final_val_top1": val[-1]["top1"],
            "first_loss": train[0]["loss"], "last_loss": train[-1]["loss"],
            "clips_per_s_median": statistics.median(m["clips_per_s"] for m in steady),
            "data_wait_share": wait_s / window_s if window_s else None,
            "peak_gpu_memory_mb": max((m.get("gpu_memory_peak_mb", 0) for m in train), default=None),
            # What keeps a GPU waiting (issue 31): the host's waits for it per step (once per log
            # window: 1 / log_interval) and the input bytes copied to it per step (uint8 clips).
            "host_waits_per_step": statistics.median(m.get("host_waits_per_step", -1)
                                                     for m in steady),
            "h2d_bytes_per_step": statistics.median(m.get("h2d_bytes_per_step", -1)
                                                    for m in steady),
            "nvidia_smi_peak_used_mb": smi_peak,
        })
        # tsn_eval of the best checkpoint, on the same device, 3 crops.
        best = os.path.join(work_dir, "checkpoints", "best.pt")
        rc, out = self.run([self.bin("tsn_eval"), "--config", CONFIG, "--checkpoint", best,
                            "--crops", "3"] + sum([["--set", o] for o in overrides], []), 120)
        m = re.search(r"top1 ([0-9.]+)", out)
        record["eval_3crop_top1"] = float(m.group(1)) if rc == 0 and m else f"exit {rc}"
        threshold = self.size["learns_top1"]
        if threshold is None:
            record["status"] = "not_run"
            record["why"] = "CPU mode: a few epochs of a tiny model; plumbing only"
        else:
            record["criterion"] = f"final val top1 >= {threshold} (chance 0.1)"
            record["status"] = "passed" if record["final_val_top1"] >= threshold else "failed"
        return record

    def bench(self):
        return bench_step(self, CONFIG)

    def resume_fp16(self):
        data = self.synthetic_set()
        first, total = self.size["resume_steps"]
        base = data_overrides(data) + self.size["resume"] + [
            "train.epochs=2", "checkpoint.interval_iters=0", "train.lr_decay_epochs=[1]"]
        record = {}
        ckpts = {}
        for name, steps in (("uninterrupted", [total]), ("resumed", [first, total])):
            work_dir = os.path.join(self.work, f"resume_{name}")
            shutil.rmtree(work_dir, ignore_errors=True)
            for n in steps:
                rc, out = self.dist(base + [f"train.work_dir={work_dir}"],
                                    ["--debug", "--max-steps", str(n), "--resume", "auto"], 240)
                if rc != 0:
                    return {"status": "failed", "why": f"{name} run to step {n}: exit {rc}",
                            "tail": out[-1500:]}
            with open(os.path.join(work_dir, "checkpoints", "latest")) as f:
                ckpts[name] = os.path.join(work_dir, "checkpoints", f.read().strip())
        rc, out = self.run([self.python, os.path.join(ROOT, "tools", "gpu", "compare_checkpoints.py"),
                            ckpts["uninterrupted"], ckpts["resumed"]], 120)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        record["bitwise"] = json.loads(lines[-1]) if rc in (0, 1) and lines else out[-800:]
        # The GPU checkpoint on the CPU: our evaluator with the GPU hidden.
        rc, out = self.run([self.bin("tsn_eval"), "--config", CONFIG, "--checkpoint",
                            ckpts["resumed"]] + sum([["--set", o] for o in base], []), 180,
                           env={"CUDA_VISIBLE_DEVICES": ""})
        m = re.search(r"top1 ([0-9.]+)", out)
        record["cpu_eval"] = {"exit": rc, "top1": float(m.group(1)) if m else None}
        resumed_ok = (isinstance(record["bitwise"], dict) and record["bitwise"].get("equal")
                      and record["bitwise"].get("torchvision_strict_load") is True)
        cpu_ok = rc == 0 and m is not None
        if self.mode == "gpu":
            work_dir = os.path.join(self.work, "fp16")
            shutil.rmtree(work_dir, ignore_errors=True)
            n = self.size["fp16_steps"]
            rc, out = self.dist(base + [f"train.work_dir={work_dir}", "train.precision=fp16",
                                        "train.epochs=100", f"train.max_steps={n}"], timeout=180)
            skipped = len(re.findall(r"step skipped", out))
            losses = [m["loss"] for m in read_jsonl(os.path.join(work_dir, "metrics.jsonl"))
                      if m.get("mode") == "train"]
            record["fp16"] = {"exit": rc, "steps": n, "skipped_steps": skipped,
                              "first_loss": losses[0] if losses else None,
                              "last_loss": losses[-1] if losses else None}
            fp16_ok = rc == 0 and skipped < n and losses and all(map(is_finite, losses))
            record["status"] = "passed" if resumed_ok and cpu_ok and fp16_ok else "failed"
        else:
            record["fp16"] = "not run: fp16 needs a GPU"
            record["status"] = "not_run"
            record["why"] = ("CPU mode; resume " + ("bitwise equal" if resumed_ok else "DIFFERS")
                             + ", CPU eval " + ("ran" if cpu_ok else "failed"))
            if not (resumed_ok and cpu_ok):
                record["status"] = "failed"
        return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", required=True, help="scratch space (data, runs)")
    parser.add_argument("--mode", choices=["gpu", "cpu"], required=True)
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--steps", default=",".join(name for name, _, _ in PLAN),
                        help="steps to run, in the plan's order, after the environment (a rerun "
                        "on a warm machine)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    plan = {name: (cap, min_start) for name, cap, min_start in PLAN}
    # The environment always runs first: the other steps read what it found (the bundle's GPU
    # count), and a rerun on a warm machine should know that the machine is still sound.
    wanted = ["environment"] + args.steps.split(",")
    unknown = [name for name in wanted if name not in plan]
    if unknown:
        parser.error(f"unknown steps {', '.join(unknown)}; the plan: {', '.join(plan)}")
    check = Check(args)
    for name in [name for name, _, _ in PLAN if name in wanted]:
        record = check.step(name, getattr(check, name), *plan[name])
        if name == "environment" and record["status"] == "failed":
            break  # nothing else can run
    statuses = [s["status"] for s in check.result["steps"].values()]
    check.result["summary"] = {s: statuses.count(s) for s in ("passed", "failed", "not_run")}
    check.save()
    print(json.dumps(check.result["summary"]))
    if "failed" in statuses:
        return 1
    # On a GPU every step must have run; in CPU mode not_run is the expected outcome.
    return 3 if args.mode == "gpu" and "not_run" in statuses else 0


if __name__ == "__main__":
    sys.exit(main())
