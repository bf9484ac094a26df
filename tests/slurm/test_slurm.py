#!/usr/bin/env python3
"""The Slurm batch scripts against a real single-node Slurm (cluster/local/start.sh).

  test_slurm.py SOURCE_DIR BUILD_DIR start|stop|train|eval|requeue|failing-task|pack

CTest runs start first and stop last (fixtures); train leaves a trained work dir that eval and
requeue use. Every job gets 2 tasks of 1 CPU.
"""
import glob
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from tiny_config import tiny_config  # noqa: E402
from slurm_jobs import job_info, read as log_of, run, wait_for  # noqa: E402
import slurm_jobs  # noqa: E402

SOURCE, BUILD, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
SLURM_DIR = os.environ.get("TSN_SLURM_DIR", "/tmp/tsn-slurm")
os.environ["SLURM_CONF"] = os.path.join(SLURM_DIR, "slurm.conf")
SUITE = os.path.join(BUILD, "test_tmp", "slurm_suite")
DATA = os.path.join(SUITE, "data")


def sbatch(script, **env):
    """Every job gets 2 tasks of 1 CPU."""
    return slurm_jobs.sbatch(SOURCE, BUILD, SUITE, script, "--ntasks-per-node=2",
                             "--cpus-per-task=1", **env)


def config(name, extra=""):
    path = os.path.join(SUITE, f"{name}.toml")
    with open(path, "w") as f:
        f.write(tiny_config(DATA, os.path.join(SUITE, name),
                            {"epochs": 12, "batch_size": 1, "lr": 0.01, "lr_decay_epochs": "[8]",
                             "val_interval": 6, "log_interval": 5}, extra))
    return path


def checkpoint(path):
    import torch
    return torch.load(path, map_location="cpu")


def newest(work_dir):
    files = sorted(glob.glob(os.path.join(work_dir, "checkpoints", "e*_s*.pt")))
    assert files, f"no checkpoints in {work_dir}"
    return files[-1]


def main():
    if SCENARIO == "start":
        run(os.path.join(SOURCE, "cluster", "local", "start.sh"))
        print(run("sinfo").stdout)
        return
    if SCENARIO == "stop":
        run(os.path.join(SOURCE, "cluster", "local", "stop.sh"))
        return
    os.makedirs(SUITE, exist_ok=True)
    if not os.path.exists(os.path.join(DATA, "val.list")):
        run(os.path.join(BUILD, "bin", "tsn_synth"), "--out", DATA, "--classes", "4",
            "--videos-per-class", "6", "--seconds", "1", "--width", "96", "--height", "72",
            "--seed", "3")

    if SCENARIO == "train":
        shutil.rmtree(os.path.join(SUITE, "trained"), ignore_errors=True)
        job, out = sbatch("train.sbatch", TSN_CONFIG=config("trained"))
        info = wait_for(job)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, log_of(out))
        work = os.path.join(SUITE, "trained")
        assert checkpoint(newest(work))["epoch"] == 12
        assert os.path.exists(os.path.join(work, "checkpoints", "best.pt"))
        assert os.path.getsize(os.path.join(work, "metrics.jsonl")) > 0
        print(f"job {job}: completed; {newest(work)}")

    elif SCENARIO == "eval":
        work = os.path.join(SUITE, "trained")
        job, out = sbatch("eval.sbatch", TSN_CONFIG=config("trained"), TSN_WORK_DIR=work)
        info = wait_for(job)
        assert info["JobState"] == "COMPLETED", (info, log_of(out))
        import json
        with open(os.path.join(work, "eval", "scores.json")) as f:
            scores = json.load(f)
        assert scores["ranks"] == 2 and scores["evaluated"] == scores["listed"] > 0, scores
        assert os.path.exists(os.path.join(work, "eval", "scores.json.confusion.csv"))
        print(f"job {job}: top1 {scores['top1']} on {scores['evaluated']} videos over 2 ranks")

    elif SCENARIO == "requeue":
        work = os.path.join(SUITE, "requeued")
        shutil.rmtree(work, ignore_errors=True)
        job, out = sbatch("train.sbatch", TSN_CONFIG=config("requeued"))
        deadline = time.time() + 120
        while not glob.glob(os.path.join(work, "checkpoints", "e001_*.pt")):
            assert time.time() < deadline, log_of(out)
            assert job_info(job)["JobState"] in ("PENDING", "RUNNING"), log_of(out)
            time.sleep(0.2)
        run("scancel", "--signal=USR1", job)
        info = wait_for(job)
        log = log_of(out)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, log)
        assert int(info["Restarts"]) == 1, info
        assert "exited with 75" in log and "requeueing (restart 1" in log, log
        assert "resumed from" in log, log
        a, b = checkpoint(newest(os.path.join(SUITE, "trained"))), checkpoint(newest(work))
        assert a["step"] == b["step"], (a["step"], b["step"])
        import torch
        for part, x, y in (("model", a["model"], b["model"]),
                           ("momentum", a["optimizer"]["momentum"], b["optimizer"]["momentum"])):
            different = [k for k in x if not torch.equal(x[k], y[k])]
            assert not different, f"{part} differs from the uninterrupted run: {different[:5]}"
        print(f"job {job}: stopped by USR1, requeued, resumed, same parameters as the "
              f"uninterrupted run after {b['step']} steps")

    elif SCENARIO == "batch-signal":
        # USR1 to the batch shell (what --signal=B:USR1@120 sends): forwarded to the tasks,
        # which checkpoint and exit 75; with no requeues left the job ends with 75.
        work = os.path.join(SUITE, "capped")
        shutil.rmtree(work, ignore_errors=True)
        job, out = sbatch("train.sbatch", TSN_CONFIG=config("capped"), TSN_MAX_REQUEUES=0)
        deadline = time.time() + 120
        while not glob.glob(os.path.join(work, "checkpoints", "e001_*.pt")):
            assert time.time() < deadline and job_info(job)["JobState"] in ("PENDING", "RUNNING")
            time.sleep(0.2)
        run("scancel", "--batch", "--signal=USR1", job)
        info = wait_for(job)
        log = log_of(out)
        assert info["JobState"] == "FAILED" and info["ExitCode"] == "75:0", (info, log)
        assert "batch shell got SIGUSR1" in log and "restarts are used up" in log, log
        stopped = checkpoint(newest(work))
        assert 0 < stopped["step"] < 120, stopped["step"]
        print(f"job {job}: batch shell signal forwarded; checkpoint at step {stopped['step']}; "
              f"exit 75 with no requeue left")

    elif SCENARIO == "failing-task":
        with open(os.path.join(DATA, "val.list")) as f:
            good = f.read()
        bad_list = os.path.join(SUITE, "bad.list")
        with open(os.path.join(DATA, "broken.mp4"), "w") as f:
            f.write("not a video")
        with open(bad_list, "w") as f:
            f.write(good + "broken.mp4 0\n")
        cfg = config("failing")
        # The broken video in the training list with no tolerance: one task fails.
        text = open(cfg).read().replace(f'train_list = "{DATA}/train.list"',
                                        f'train_list = "{bad_list}"\nmax_bad_fraction = 0.0')
        with open(cfg, "w") as f:
            f.write(text)
        start = time.time()
        job, out = sbatch("train.sbatch", TSN_CONFIG=cfg)
        info = wait_for(job, timeout=120)
        assert info["JobState"] == "FAILED" and info["ExitCode"] != "0:0", (info, log_of(out))
        print(f"job {job}: {info['JobState']} exit {info['ExitCode']} after "
              f"{time.time() - start:.1f}s")
    elif SCENARIO == "pack":
        # Two tasks split the shards; the same bytes as one process packing alone.
        packed, alone = os.path.join(SUITE, "packed"), os.path.join(SUITE, "packed_alone")
        for d in (packed, alone):
            shutil.rmtree(d, ignore_errors=True)
        args = "--videos-per-shard 3 --short-side 32"
        job, out = sbatch("pack.sbatch", TSN_LIST=os.path.join(DATA, "train.list"),
                          TSN_DATA_ROOT=DATA, TSN_OUT=packed, TSN_ARGS=args)
        info = wait_for(job)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, log_of(out))
        log = log_of(out)
        assert "rank 0 of 2" in log and "rank 1 of 2" in log, log
        run(os.path.join(BUILD, "bin", "tsn_pack"), "--list", os.path.join(DATA, "train.list"),
            "--root", DATA, "--out", alone, "--rank", "0", "--ranks", "1", *args.split())
        names = sorted(os.listdir(alone))
        assert names == sorted(os.listdir(packed)) and "manifest.json" in names, names
        for name in names:
            with open(os.path.join(packed, name), "rb") as a, open(os.path.join(alone, name), "rb") as b:
                assert a.read() == b.read(), f"{name} differs"
        print(f"job {job}: {len(names)} files, the same bytes as one process")
    else:
        sys.exit(f"unknown scenario {SCENARIO}")


if __name__ == "__main__":
    main()
