"""Submitting and watching Slurm batch jobs from the Python tests (tests/slurm on the
single-node cluster, tests/multinode on the emulated nodes). SLURM_CONF in the environment
picks the cluster."""
import os
import re
import subprocess
import sys
import time

DONE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL")


def run(*command, check=True, **kwargs):
    r = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def sbatch(source, build, suite, script, *options, output=None, **env):
    """Submits cluster/slurm/SCRIPT from `suite` with TSN_ROOT, TSN_BIN and `env` exported;
    returns the job id and its output file (`output`-JOBID.out, default SCRIPT-JOBID.out)."""
    exports = ",".join(["ALL", f"TSN_ROOT={source}", f"TSN_BIN={build}/bin"] +
                       [f"{k}={v}" for k, v in env.items()])
    out = os.path.join(suite, f"{output or os.path.basename(script)}-%j.out")
    r = run("sbatch", "--parsable", *options, f"--output={out}", f"--export={exports}",
            os.path.join(source, "cluster", "slurm", script), cwd=suite)
    job = r.stdout.strip().split(";")[0]
    return job, out.replace("%j", job)


def job_info(job):
    text = run("scontrol", "show", "job", "-o", job).stdout
    return dict(re.findall(r"(\w+)=(\S*)", text))


def wait_for(job, states=DONE, timeout=240):
    deadline = time.time() + timeout
    released = set()
    while time.time() < deadline:
        info = job_info(job)
        if info.get("JobState") in states:
            return info
        restarts = info.get("Restarts")
        if (info.get("JobState") == "PENDING" and info.get("Reason") == "BeginTime" and
                restarts not in released):
            # Slurm holds a requeued batch job ~2 minutes; a test need not wait that long. Not
            # at once either: a start within the second of the requeue finds its credential
            # revoked.
            run("scontrol", "update", f"JobId={job}", "StartTime=now+3")
            released.add(restarts)
        time.sleep(0.5)
    run("scancel", job, check=False)
    sys.exit(f"job {job} did not reach {states} in {timeout}s: {job_info(job)}")


def read(path):
    with open(path, errors="replace") as f:
        return f.read()
