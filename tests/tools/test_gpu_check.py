#!/usr/bin/env python3
"""The GPU check's plumbing, here on the CPU: its plan fits the time it promises, a timed-out
command's whole process group dies, warnings are picked out, and the bundle's library check
refuses what the GPU machine would not load."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "gpu"))
from bundle import ldd_map, library_problems  # noqa: E402
from check_support import DEFAULT_BUDGET_S, PLAN, run_group, warning_lines  # noqa: E402


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_plan():
    names = [name for name, _, _ in PLAN]
    assert names == ["environment", "train_e2e", "bench", "resume_fp16", "cuda_tests",
                     "nccl_mpi"], names
    # check.sh must end within 6 minutes with its own start (a few seconds) on top.
    assert DEFAULT_BUDGET_S <= 340, DEFAULT_BUDGET_S
    assert all(0 < start <= cap for _, cap, start in PLAN), PLAN


def test_timeout_kills_the_group():
    with tempfile.TemporaryDirectory() as tmp:
        pidfile = os.path.join(tmp, "child")
        # A child that ignores SIGTERM, as a rank stuck in a driver call may: SIGKILL follows.
        script = f"(trap '' TERM; sleep 60) & echo $! > {pidfile}; echo started; sleep 60"
        start = time.monotonic()
        rc, out = run_group(["bash", "-c", script], timeout=1, grace_s=1)
        took = time.monotonic() - start
        assert rc == 124 and "started" in out and "process group killed" in out, (rc, out)
        assert took < 10, took
        with open(pidfile) as f:
            child = int(f.read())
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), f"child {child} outlived the timeout"


def test_output_and_exit_codes():
    rc, out = run_group(["bash", "-c", "printf 'a\\xffb\\n'; exit 3"], timeout=10)
    assert rc == 3 and "a\ufffdb" in out, (rc, out)  # an undecodable byte is replaced
    rc, out = run_group(["/nonexistent/program"], timeout=10)
    assert rc == 127, (rc, out)


def test_warnings():
    out = "\n".join(["step 1/10 loss 2.3", "node1:12:12 [0] NCCL INFO Bootstrap",
                     "node1:12:12 [0] NCCL WARN Cuda failure 'out of memory'",
                     "WARNING: There was an error initializing an OpenFabrics device.",
                     "all good"])
    assert [line.split()[-1] for line in warning_lines(out)] == ["memory'", "device."]


def test_library_problems():
    ldd = """\tlinux-vdso.so.1 (0x00007ffc)
\tlibtorch.so => /site/torch/lib/libtorch.so (0x1)
\tlibc10.so => /site/torch/lib/libc10.so (0x1)
\tlibcudart.so.13 => /usr/local/cuda/lib64/libcudart.so.13 (0x1)
\tlibavcodec.so.59 => /b/lib/libavcodec.so.59 (0x1)
\tlibspdlog.so.1 => not found
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x1)
"""
    libs = ldd_map(ldd)
    assert libs["libspdlog.so.1"] is None and libs["libc10.so"] == "/site/torch/lib/libc10.so"
    problems = library_problems("bin/tsn_dist", libs, ("/site/torch/", "/b/"), needs_cuda=True)
    assert len(problems) == 3, problems
    assert "libcudart.so.13 resolves to /usr/local/cuda/lib64" in problems[0], problems
    assert "libspdlog.so.1 not found" in problems[1], problems
    assert "libtorch_cuda.so, libc10_cuda.so" in problems[2], problems
    libs.update({"libcudart.so.13": "/site/nvidia/cuda_runtime/lib/libcudart.so.13",
                 "libspdlog.so.1": "/b/lib/libspdlog.so.1",
                 "libtorch_cuda.so": "/site/torch/lib/libtorch_cuda.so",
                 "libc10_cuda.so": "/site/torch/lib/libc10_cuda.so"})
    assert library_problems("bin/tsn_dist", libs, ("/site/", "/b/"), needs_cuda=True) == []


def main():
    for test in (test_plan, test_timeout_kills_the_group, test_output_and_exit_codes,
                 test_warnings, test_library_problems):
        test()
        print(f"{test.__name__}: ok")


if __name__ == "__main__":
    main()
