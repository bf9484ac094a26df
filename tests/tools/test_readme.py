#!/usr/bin/env python3
"""README.md's quick start runs as written: every ```sh block after "## Quick start", line by
line, in order, from the checkout (after tools/dev/build.sh), on the synthetic set it makes.

Only the machine is adapted, never a command: Open MPI is told by its own environment variables
that root may run it and that more ranks than cores may start (8 ranks on a 2-core CI machine),
and each rank runs one intra-op thread. ```text blocks (Slurm, hostfiles, Kinetics) need what
this machine lacks; the tests named beside them run the same commands.
"""
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def quick_start_commands(readme):
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def main():
    commands = quick_start_commands((ROOT / "README.md").read_text())
    assert len(commands) >= 7, commands
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1")
    for command in commands:
        start = time.monotonic()
        r = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
        print(f"[readme] {time.monotonic() - start:5.1f} s, exit {r.returncode}: {command}",
              flush=True)
        if r.returncode != 0:
            print(r.stdout[-3000:] + r.stderr[-3000:])
            sys.exit(f"README quick start: `{command}` failed")
        output = r.stdout + r.stderr
        # What each kind of command must have done, beyond exiting 0.
        if "tsn_dist" in command and "--max-steps" in command:
            steps = re.search(r"--max-steps (\d+)", command).group(1)
            assert f"stopped after train.max_steps={steps} steps" in output, output[-2000:]
        if "tsn_eval" in command:
            top1 = float(re.search(r"top1 ([0-9.]+)", output).group(1))
            assert top1 >= 0.8, f"the quick start's model evaluates at top-1 {top1}"
        if "tsn_infer" in command:
            # A JSON line per video of the list, each with its top classes.
            listed = re.search(r"--list (\S+)", command).group(1)
            with open(ROOT / listed) as f:
                videos = sum(1 for line in f if line.strip())
            predicted = [line for line in r.stdout.splitlines() if line.startswith('{"')]
            assert len(predicted) == videos and all('"top"' in p for p in predicted), \
                (len(predicted), videos, r.stdout[-1000:])
    print(f"README quick start: {len(commands)} commands ran as written")


if __name__ == "__main__":
    main()
