#!/usr/bin/env python3
"""plot_metrics.py turns a metric log into a PNG, and names the line of a broken log."""
import json
import os
import subprocess
import sys
import tempfile

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "plot_metrics.py")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "metrics.jsonl")
        with open(log, "w") as f:
            for step in range(1, 21):
                f.write(json.dumps({"mode": "train", "epoch": (step - 1) // 10 + 1, "iter": step,
                                    "step": step, "lr": 0.1, "loss": 2.0 / step,
                                    "top1": step / 20}) + "\n")
                if step % 10 == 0:
                    f.write(json.dumps({"mode": "val", "epoch": step // 10, "step": step,
                                        "top1": step / 25}) + "\n")
            f.write(json.dumps({"mode": "data", "epoch": 2}) + "\n")
        png = os.path.join(tmp, "curves.png")
        subprocess.run([sys.executable, TOOL, log, png], check=True)
        with open(png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG"
        assert os.path.getsize(png) > 10000, os.path.getsize(png)

        with open(log, "a") as f:
            f.write("{broken\n")
        r = subprocess.run([sys.executable, TOOL, log, png], capture_output=True, text=True)
        assert r.returncode != 0 and "metrics.jsonl:24: not JSON" in r.stderr, r.stderr
    print("plot written; broken line named")


if __name__ == "__main__":
    main()
