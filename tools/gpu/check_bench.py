"""The GPU check's bench step: tsn_bench train (our training step) against
tools/bench/bench_pytorch_tsn.py (PyTorch's), fp32 and bf16 + channels-last, on the same device.

Time-boxed, not iteration-boxed: the step's time is cut into one slice per run, each run times
steps until its slice ends (less a start-up allowance: loading, cuDNN's autotuning, the warm-up
steps) and reports what it got, so a faster or slower GPU than expected changes the count of
steps, never whether the runs fit.
"""
import os

from check_support import last_json_object

VARIANTS = (("fp32", []), ("bf16_channels_last", ["train.precision=bf16", "train.channels_last=true"]))


def bench_step(check, config):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    size = check.size
    commands = []
    for label, extra in VARIANTS:
        sets = sum([["--set", o] for o in size["bench"] + extra], [])
        for impl, command in (
                ("ours", [check.bin("tsn_bench"), "train", "--config", config]),
                ("pytorch", [check.python, os.path.join(root, "tools", "bench",
                                                        "bench_pytorch_tsn.py"), "--config", config])):
            commands.append((label, impl, command + sets))
    reports, errors, slices = {}, [], []
    for k, (label, impl, command) in enumerate(commands):
        slice_s = check.remaining() / (len(commands) - k)
        measure_s = slice_s - size["bench_startup_s"]
        if measure_s < 1:
            errors.append(f"{impl} {label}: not run, {slice_s:.0f} s left for it")
            continue
        slices.append(round(measure_s, 1))
        # The slice is the run's whole time: a run that overruns it is killed, not waited for.
        rc, out = check.run(command + ["--warmup", str(size["bench_warmup"]),
                                       "--seconds", f"{measure_s:.1f}"], slice_s)
        try:
            reports[(label, impl)] = last_json_object(out) if rc == 0 else None
        except (IndexError, ValueError):
            reports[(label, impl)] = None
        if reports[(label, impl)] is None:
            errors.append(f"{impl} {label}: exit {rc}: {out[-400:]}")
    runs = {}
    for label, _ in VARIANTS:
        ours, theirs = reports.get((label, "ours")), reports.get((label, "pytorch"))
        if not ours or not theirs:
            continue
        runs[label] = {
            "ours_clips_per_s": ours["clips_per_s"],
            "pytorch_clips_per_s": theirs["clips_per_s"],
            "ratio": ours["clips_per_s"] / theirs["clips_per_s"],
            "ours_steps": ours["iters"], "pytorch_steps": theirs["iters"],
            "ours_host_waits_per_step": ours.get("host_waits_per_step"),
            "ours": ours["implementation"], "pytorch": theirs["implementation"],
            "device": ours["device"],
        }
    record = {"runs": runs, "settings": size["bench"], "measured_s": slices, "errors": errors}
    if errors or len(runs) < len(VARIANTS):
        record.update(status="failed", why=f"{len(errors)} runs failed; measured: "
                      f"{', '.join(runs) or 'nothing'}")
    elif check.mode == "cpu":
        record.update(status="not_run", why="CPU mode: a smoke run, not a GPU figure")
    else:
        # The goal is >= 1.0; two timings of equal code differ by a few percent, so the step
        # fails only below 0.95 and says whether the goal was met.
        record["goal"] = "ratio ours / PyTorch >= 1.0 (step fails below 0.95)"
        record["goal_met"] = all(v["ratio"] >= 1.0 for v in runs.values())
        low = [k for k, v in runs.items() if v["ratio"] < 0.95]
        record["status"] = "passed" if not low else "failed"
        if low:
            record["why"] = f"slower than PyTorch: {', '.join(low)}"
    return record
