#!/usr/bin/env python3
"""plot_metrics.py turns a metric log into a PNG, and names the line of a broken log."""
import json
import os
import subprocess
import sys
import tempfile

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "observe", "plot_metrics.py")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "metrics.jsonl")
        with open(log, "w") as f:
            for step in range(1, 21):
                # Two ranks; rank 1 waits 0.5 s per step for data, rank 0 as long in the all-reduce.
                f.write(json.dumps({"mode": "train", "epoch": (step - 1) // 10 + 1, "iter": step,
                                    "step": step, "lr": 0.1, "loss": 2.0 / step,
                                    "top1": step / 20, "window_steps": 2,
                                    "step_time_per_rank": {
                                        "data_wait_s": [0.0, 0.5], "forward_backward_s": [0.2, 0.2],
                                        "allreduce_wait_s": [0.5, 0.0], "optimizer_s": [0.1, 0.1],
                                        "pause_s": [0.0, 0.0]},
                                    "slowest_rank": 1, "slowest_cause": "data_wait_s"}) + "\n")
                if step % 10 == 0:
                    f.write(json.dumps({"mode": "val", "epoch": step // 10, "step": step,
                                        "top1": step / 25}) + "\n")
            f.write(json.dumps({"mode": "data", "epoch": 2}) + "\n")
        png = os.path.join(tmp, "curves.png")
        subprocess.run([sys.executable, TOOL, log, png], check=True)
        with open(png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG"
        assert os.path.getsize(png) > 10000, os.path.getsize(png)

        r = subprocess.run([sys.executable, TOOL, "--breakdown", log], capture_output=True,
                           text=True, check=True)
        b = json.loads(r.stdout)
        assert b["seconds"]["data_wait_s"] == [0.0, 20.0], b  # 20 windows x 2 steps x 0.5 s
        assert b["seconds"]["allreduce_wait_s"] == [20.0, 0.0], b
        assert abs(b["seconds"]["forward_backward_s"][1] - 8.0) < 1e-9, b
        assert b["slowest_windows"] == {"1": {"data_wait_s": 20}}, b

        with open(log, "a") as f:
            f.write("{broken\n")
        r = subprocess.run([sys.executable, TOOL, log, png], capture_output=True, text=True)
        assert r.returncode != 0 and "metrics.jsonl:24: not JSON" in r.stderr, r.stderr
    print("plot written; time breakdown summed per rank; broken line named")


if __name__ == "__main__":
    main()
