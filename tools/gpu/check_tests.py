"""The GPU check's test steps: the bundle's CUDA-labelled CTest tests (tools/gpu/check.py)."""
import json
import os
import re
import time


def bundle_tests(check, under_mpirun, log_name):
    """The bundle's CUDA-labelled tests (tests.json) that run under mpirun, or those that do
    not, one by one while the step's cap allows; their output into OUT/`log_name`."""
    with open(os.path.join(check.bundle, "tests.json")) as f:
        tests = [t for t in json.load(f) if ("{mpirun}" in t["command"]) == under_mpirun]
    mpirun = os.path.join(check.bundle, "mpi", "bin", "mpirun")
    tmp = os.path.join(check.work, "tests")
    os.makedirs(tmp, exist_ok=True)
    env = {"TSN_TEST_TMPDIR": tmp, "OMPI_ALLOW_RUN_AS_ROOT": "1",
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    results = []
    with open(os.path.join(check.out, log_name), "w") as log:
        for t in tests:
            if check.remaining() < 5:
                break
            command = [a.replace("{bundle}", check.bundle).replace("{mpirun}", mpirun)
                       for a in t["command"]]
            start = time.monotonic()
            rc, output = check.run(command, t["timeout_s"], env, cwd=tmp)
            skipped = rc == 0 and any(re.search(r, output) for r in t["skip_regex"])
            status = "skipped" if skipped else ("passed" if rc == 0 else "failed")
            gtests = {
                "ok": re.findall(r"^\[       OK \] (\S+)", output, re.M),
                "skipped": re.findall(r"^\[  SKIPPED \] (\S+\.\S+)", output, re.M),
                "failed": sorted(set(re.findall(r"^\[  FAILED  \] (\S+\.\S+)", output, re.M))),
            }
            why = re.findall(r"Skipped\s*\n?(.*needs.*)", output)
            results.append({"name": t["name"], "status": status, "exit": rc,
                            "seconds": round(time.monotonic() - start, 1),
                            "gtests": gtests, "skip_reason": why[0].strip() if why else None})
            log.write(f"===== {t['name']}: {status}\n{output}\n")
    counts = {s: sum(r["status"] == s for r in results) for s in ("passed", "failed", "skipped")}
    # On one GPU the 2-rank NCCL suite cannot run: skipped, named, never passed. Any other
    # skip on a GPU machine is a failure (the bundle's LibTorch did not see the GPU).
    gpus = check.result["environment"].get("bundle_gpus") or 0
    needs_more_gpus = [
        r["name"] for r in results if r["status"] == "skipped"
        and re.fullmatch(r".*\.np(\d+)", r["name"])
        and int(re.fullmatch(r".*\.np(\d+)", r["name"]).group(1)) > gpus
        and r["skip_reason"] and "needs one GPU per rank" in r["skip_reason"]]
    unrun = [t["name"] for t in tests[len(results):]]  # the step's cap ran out first
    if counts["failed"]:
        status = "failed"
    elif check.mode == "cpu" or unrun:
        status = "not_run"
    elif counts["skipped"] > len(needs_more_gpus) or counts["passed"] == 0:
        status = "failed"
    else:
        status = "passed"
    failed = [r["name"] for r in results if r["status"] == "failed"]
    why = {"failed": f"failed: {', '.join(failed)} (see OUT/{log_name})" if failed else None,
           "not_run": f"not reached within the step's cap: {', '.join(unrun)}" if unrun else
           ("CPU mode" if check.mode == "cpu" else None)}.get(status)
    return {"status": status, "why": why, "counts": counts, "needs_more_gpus": needs_more_gpus,
            "not_run": unrun, "tests": results}
