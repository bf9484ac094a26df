"""The GPU check's sizes per mode and its small helpers (tools/gpu/check.py runs the steps)."""
import json
import os
import re
import signal
import subprocess
import threading
import time

from fingerprint import differences

# The plan, in the order the steps prove things (each builds on the one before): name, cap (the
# most seconds it may take) and minimum start (with less of the budget left it is not_run, not
# started to fail). The caps add up to the default budget, 450 s: a first call with a 560 s
# timeout (the check's own start and some to spare) leaves a rerun of chosen steps room in the
# 15 minutes of device time. The benchmarks inside a step are time-boxed: each measures until
# its slice of the step ends and reports what it got. Nothing here depends on which GPU (an
# H100's 80 GB or an H200's 141 GB): the sizes fit either.
PLAN = [
    ("environment", 30, 10),   # GPU, driver, torch, every bundle program loads, the tree
    ("train_e2e", 130, 60),    # single-GPU training end to end, then tsn_eval
    ("bench", 120, 40),        # our step vs PyTorch's, fp32 and bf16 + channels-last
    ("resume_fp16", 60, 30),   # a GPU checkpoint resumes bitwise; fp16 with loss scaling
    ("cuda_tests", 70, 20),    # the CUDA-labelled tests that need no MPI
    ("nccl_mpi", 40, 15),      # NCCL and Open MPI last: a hang in their start costs only this
]
DEFAULT_BUDGET_S = sum(cap for _, cap, _ in PLAN)

# Lines worth a look in any output: NCCL's own warnings (NCCL_DEBUG=WARN is set for every
# command), Open MPI / PRRTE / PMIx warnings and errors, CUDA and cuDNN complaints.
WARNING = re.compile(r"NCCL WARN|WARNING|[Ww]arning:|PRTE ERROR|PMIX ERROR|ORTE ERROR|"
                     r"MPI_ABORT|CUDA error|cuDNN error|CUBLAS_STATUS_(?!SUCCESS)")


def warning_lines(output):
    return [line.rstrip() for line in output.splitlines() if WARNING.search(line)]


def run_group(command, timeout, env=None, cwd=None, grace_s=3):
    """Runs a command in its own process group; on a timeout every process of the group
    (mpirun's ranks, a test's children) gets SIGTERM, then SIGKILL `grace_s` later. Returns
    (exit code, output); 124 on a timeout, 127 when the program is missing. Output is decoded
    with replacement: a stray byte never loses a result."""
    try:
        p = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                             cwd=cwd, start_new_session=True)
    except FileNotFoundError as e:
        return 127, str(e)
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.05)
        rc = 124
        note = f"\n[check] timed out after {timeout:.0f} s; process group killed"
        try:
            out, _ = p.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired as e:  # a process that left the group holds the pipe
            out = e.output or b""
            note += "; a process outside the group kept its output open"
        out += note.encode()
    return rc, out.decode(errors="replace")


# Sizes per mode. GPU: the setting (ResNet-50, 224 px, seg 3, batch 32, 14 decode
# workers). CPU: the same code paths at a size two cores finish in a few minutes.
SIZES = {
    "gpu": {
        "synth": ["--classes", "10", "--videos-per-class", "40", "--width", "340",
                  "--height", "256"],
        "train": ["model.backbone=resnet50", "data.workers=14", "train.batch_size=32",
                  "train.epochs=30", "train.lr_decay_epochs=[20, 26]", "train.warmup_epochs=1",
                  "train.val_interval=10", "train.log_interval=5", "train.precision=bf16",
                  "train.channels_last=true"],
        "learns_top1": 0.3,  # 3x chance; not yet measured on a GPU
        "bench": ["model.backbone=resnet50", "train.batch_size=32", "data.target_size=224"],
        "bench_warmup": 10,
        # Process start (python3 imports torch in ~5 s), the model, cuDNN's autotuning, the
        # warm-up steps and the end: what a run takes beyond the seconds it times.
        "bench_startup_s": 15,
        "resume": ["model.backbone=resnet50", "train.batch_size=8", "data.target_size=112",
                   "data.short_size=128"],
        "resume_steps": (4, 8),
        "fp16_steps": 40,
    },
    "cpu": {
        "synth": ["--classes", "10", "--videos-per-class", "6", "--width", "160",
                  "--height", "120"],
        "train": ["model.backbone=resnet18", "model.width=16", "data.short_size=64",
                  "data.target_size=56", "data.workers=1", "train.batch_size=8",
                  "train.epochs=4", "train.lr_decay_epochs=[3]", "train.warmup_epochs=1",
                  "train.val_interval=2", "train.log_interval=2", "train.lr=0.05"],
        "learns_top1": None,  # too short to judge on a CPU; reported only
        "bench": ["model.backbone=resnet18", "train.batch_size=2", "data.target_size=64"],
        "bench_warmup": 1,
        "bench_startup_s": 15,  # CPU mode measured: PyTorch's bf16 run needed more than 8
        "resume": ["model.backbone=resnet18", "train.batch_size=4",
                   "data.target_size=56", "data.short_size=64"],
        "resume_steps": (3, 6),
        "fp16_steps": 0,  # fp16 needs a GPU
    },
}


class GpuMemorySampler:
    """Peak memory.used that nvidia-smi reports while the run goes (every 0.5 s)."""

    def __init__(self):
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.done.wait(0.5):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, timeout=5).stdout
                self.peak = max([self.peak] + [int(x) for x in out.split()])
            except Exception:
                pass

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.peak


def last_json_object(output):
    """The last JSON object a benchmark printed (indented, '{' and '}' at line starts)."""
    start = [m.start() for m in re.finditer(r"^\{", output, re.M)][-1]
    return json.loads(output[start:output.index("\n}", start) + 2])


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def count_lines(path):
    with open(path) as f:
        return sum(1 for line in f if line.strip() and not line.startswith("#"))


def is_finite(x):
    return x == x and abs(x) != float("inf")


# What the bundle is built from: C++ sources and headers, the CMake files and the two scripts that
# build and pack it. A change to one of these needs a new bundle; any other tracked file (docs,
# configs, the Python the check runs from this tree) may differ, and is named as a warning.
BUILD_SUFFIXES = (".cpp", ".h", ".hpp", ".c", ".cmake", ".in")
BUILD_FILES = ("CMakeLists.txt", "tools/gpu/prepare.sh", "tools/gpu/bundle.py")


def builds_bundle(rel):
    return rel.endswith(BUILD_SUFFIXES) or rel in BUILD_FILES or rel.endswith("/CMakeLists.txt")


def tree_problem(manifest, root):
    """(why the tree at `root` cannot run the bundle or None, the other files that differ)."""
    if "tree" not in manifest:
        return "the bundle records no tree: rebuild it with tools/gpu/prepare.sh", []
    changed = differences(manifest["tree"], root)
    built = [rel for rel in changed if builds_bundle(rel)]
    others = [rel for rel in changed if not builds_bundle(rel)]
    if not built:
        return None, others
    return (f"{len(built)} files the bundle was built from differ from its tree "
            f"({manifest['git_commit']}), e.g. {', '.join(built[:5])}: rebuild it with "
            f"tools/gpu/prepare.sh"), others


def data_overrides(data, num_classes=10):
    """--set values that point a run at the synthetic set in `data`."""
    return [f"data.root={data}", f"data.train_list={data}/train.list",
            f"data.val_list={data}/val.list", f"data.test_list={data}/val.list",
            f"model.num_classes={num_classes}"]
