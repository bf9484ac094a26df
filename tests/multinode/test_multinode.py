#!/usr/bin/env python3
"""tsn_dist across emulated nodes (cluster/emulated): each node a network and UTS namespace with
its own host name and address on a private bridge; ranks talk over Open MPI's TCP transport.

  test_multinode.py SOURCE_DIR BUILD_DIR SCENARIO
  SCENARIO: same-losses | node-lost | partition | slow-link | plain-mpirun | slurm-train |
            slurm-requeue | slurm-node-lost | bench-json | down

Every scenario brings the cluster it needs up itself (up.sh is idempotent) and exits 77
(Skipped, with the reason) where namespaces cannot be made; `down` (CTest's cleanup fixture)
removes it, pass or fail. The emulated nodes share this machine's cores, so ranks are not bound
(tsn_mpirun --bind none) and run one intra-op thread each.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from tiny_config import tiny_config  # noqa: E402
import slurm_jobs  # noqa: E402
from slurm_jobs import read  # noqa: E402

SOURCE, BUILD, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
EMU = os.path.join(SOURCE, "cluster", "emulated")
EMU_DIR = os.environ.get("TSN_EMU_DIR", "/run/tsn-emulated")
SUITE = os.path.join(BUILD, "test_tmp", "multinode_suite")
DATA = os.path.join(SUITE, "data")
SKIPPED = 77
# dist.timeout_s in these runs, and what the bounds below add to it: the grace in which a rank
# that timed out hears from the others (min(timeout_s, 10) s), then 10 s: tsn_mpirun's wait for
# mpirun to carry out the abort before it kills it (TSN_ABORT_GRACE_S), and on the lost node
# the wait before an aborted rank's guard ends the stranded daemon (2 * MpiWorld::kAbortGraceS);
# 10 s to spare.
TIMEOUT_S = 5
MARGIN_S = 5 + 10 + 10
# The runs that lose a node: long enough that the loss comes mid-run (5 steps an epoch).
EPOCHS = 12


def run(command, check=True, env=None, timeout=300):
    r = subprocess.run(command, shell=True, capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check and r.returncode != 0:
        sys.exit(f"{command} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def skip_unless_namespaces():
    if os.geteuid() != 0:
        print("Skipped: emulated nodes need root (network and UTS namespaces)")
        sys.exit(SKIPPED)
    probe = run("ip netns add tsnemu-probe && ip netns delete tsnemu-probe", check=False)
    if probe.returncode != 0:
        print(f"Skipped: network namespaces cannot be made here: {probe.stderr.strip()}")
        sys.exit(SKIPPED)


def skip_unless_torch_distributed():
    probe = run(f"{sys.executable} -c 'import torch.distributed as d; assert d.is_gloo_available()'",
                check=False)
    if probe.returncode != 0:
        print(f"Skipped: no PyTorch with gloo for {sys.executable}: {probe.stderr.strip()[-200:]}")
        sys.exit(SKIPPED)


def cluster(nodes, *options):
    run(f"{EMU}/up.sh {nodes} {' '.join(options)}")
    env = dict(os.environ)
    with open(os.path.join(EMU_DIR, "env")) as f:
        for name, value in re.findall(r"^export (\w+)=(.*)$", f.read(), re.M):
            env[name] = value.strip('"')
    env["OMP_NUM_THREADS"] = "1"
    return env


def multinode_settings():
    """launcher/multinode.mca as environment variables, for runs on one node that must reduce
    in the same order as runs across nodes."""
    with open(os.path.join(SOURCE, "launcher", "multinode.mca")) as f:
        pairs = re.findall(r"^\s*([a-z0-9_]+)\s*=\s*(\S+)\s*$", f.read(), re.M)
    return {f"OMPI_MCA_{k}": v for k, v in pairs}


def config(name, extra="", fresh=True):
    path = os.path.join(SUITE, f"{name}.toml")
    if fresh:
        shutil.rmtree(os.path.join(SUITE, name), ignore_errors=True)
    with open(path, "w") as f:
        f.write(tiny_config(DATA, os.path.join(SUITE, name),
                            {"epochs": 2, "batch_size": 2, "lr": 0.05, "val_interval": 0,
                             "log_interval": 1}, f"[dist]\ntimeout_s = {TIMEOUT_S}\n{extra}"))
    return path


def wrapper(per_node, hostfile=None):
    where = f"--hostfile {hostfile} --net-if emu0" if hostfile else ""
    return (f"{SOURCE}/launcher/tsn_mpirun --ranks-per-node {per_node} --cpus-per-rank 1 "
            f"--bind none {where} --binary {BUILD}/bin/tsn_dist --")


def losses(name):
    out = []
    with open(os.path.join(SUITE, name, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if record.get("mode") == "train":
                out.append((record["step"], record["loss"]))
    assert out, f"no training records in {name}"
    return out


def node_pids(node):
    return run(f"ip netns pids tsnemu-{node}", check=False).stdout.split()


def wait_for_first_checkpoint(work, running, log, timeout=120):
    """Until the run in `work` has written epoch 1's checkpoint; `running()` says whether its
    job still runs, `log` is its output file."""
    deadline = time.time() + timeout
    while not glob.glob(os.path.join(work, "checkpoints", "e001_*.pt")):
        assert running(), f"the job ended before its first checkpoint:\n{read(log)}"
        assert time.time() < deadline, f"no checkpoint of epoch 1 in time:\n{read(log)}"
        time.sleep(0.1)


def wait_for_exit(process, log, bound):
    """Waits for the job's mpirun (through the tsn_mpirun wrapper) to exit, at most `bound` s.
    The log is a file, not a pipe: a daemon on a cut-off node may hold a pipe open for ever."""
    start = time.time()
    try:
        process.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        sys.exit(f"the job did not end within {bound} s:\n{read(log)}")
    return time.time() - start, read(log)


def newest_checkpoint(work):
    files = sorted(glob.glob(os.path.join(work, "checkpoints", "e*_s*.pt")))
    assert files, f"no checkpoints in {work}"
    return files[-1]


def check_resumes_on(node, cfg, work, env):
    """The newest checkpoint is intact (it loads, and `--resume auto` takes it) and the run
    completes on `node` alone: one rank instead of two."""
    newest = newest_checkpoint(work)
    r = run(f"{EMU}/agent {node} {BUILD}/bin/tsn_dist --config {cfg} --set train.epochs={EPOCHS} "
            f"--resume auto", env=env, check=False)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert "resumed from" in log and os.path.basename(newest) in log, log
    assert glob.glob(os.path.join(work, "checkpoints", f"e{EPOCHS:03d}_*.pt")), log
    return newest


def lose_node(how):
    """Starts a 2-node x 1-rank run, loses node2 (`how`) after the first checkpoint, and checks
    that every process ends within the bound; returns the run's log."""
    env = cluster(2)
    # CTest may have run a Slurm scenario first (it orders tests by their last durations): its
    # slurmd on node2 is not the job's, and "node2 empty" must mean the job's processes.
    run(f"{EMU}/slurm.sh stop", check=False)
    name = f"lost-{how.replace(' ', '-')}"
    cfg = config(name, "[checkpoint]\ninterval_epochs = 1")
    log = os.path.join(SUITE, f"{name}.log")
    with open(log, "w") as out:
        process = subprocess.Popen(
            f"exec {wrapper(1, env['TSN_EMU_HOSTFILE'])} --config {cfg} --set train.epochs={EPOCHS}",
            shell=True, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    work = os.path.join(SUITE, name)
    wait_for_first_checkpoint(work, lambda: process.poll() is None, log)
    time.sleep(0.5)  # into epoch 2's all-reduces
    lost_at = time.time()
    try:
        if how == "killed":
            run(f"kill -9 {' '.join(node_pids('node2'))}")
        else:
            run("ip link set tsnemuv2 down")
        seconds, output = wait_for_exit(process, log, TIMEOUT_S + MARGIN_S)
        assert process.returncode != 0, output
        # Nothing of the job is left on the lost node either, though it could not be told.
        while node_pids("node2"):
            assert time.time() - lost_at < TIMEOUT_S + MARGIN_S, \
                f"processes left on node2: {run('ip netns pids tsnemu-node2 | xargs -r ps -o pid,args -p', check=False).stdout}"
            time.sleep(0.5)
    finally:
        run("ip link set tsnemuv2 up", check=False)
    print(f"node2 {how}: mpirun exited {process.returncode} after {seconds:.1f} s; node2 empty "
          f"after {time.time() - lost_at:.1f} s (bound {TIMEOUT_S + MARGIN_S} s)")
    newest = check_resumes_on("node1", cfg, work, env)
    print(f"resumed on node1 alone from {os.path.basename(newest)} and completed")
    return output


def slurm_cluster():
    """Slurm on the 2 emulated nodes (cluster/emulated/slurm.sh): slurmctld here, a slurmd in
    each node. Started afresh each time (a scenario may have lost a node)."""
    env = cluster(2)
    run(f"{EMU}/slurm.sh start")
    os.environ["SLURM_CONF"] = env["SLURM_CONF"] = os.path.join(EMU_DIR, "slurm", "slurm.conf")
    return env


def sbatch_training(name, nodes, epochs, fresh=True, **env):
    cfg = config(name, "[checkpoint]\ninterval_epochs = 1", fresh)
    # Job ids start at 1 on each fresh start of the cluster: one output file per job here.
    output = f"{name}-{nodes}n"
    for old in glob.glob(os.path.join(SUITE, f"{output}-*.out")):
        os.remove(old)
    job, out = slurm_jobs.sbatch(SOURCE, BUILD, SUITE, "train.sbatch", f"--nodes={nodes}",
                                 "--ntasks-per-node=1", "--cpus-per-task=1", output=output,
                                 TSN_CONFIG=cfg, TSN_ARGS=f"--set train.epochs={epochs}", **env)
    return job, out, os.path.join(SUITE, name)


def slurm_job_runs(job):
    return lambda: slurm_jobs.job_info(job)["JobState"] in ("PENDING", "RUNNING")


def slurm_scenario():
    slurm_cluster()
    if SCENARIO == "slurm-train":
        job, out, work = sbatch_training("slurm-train", 2, 4)
        info = slurm_jobs.wait_for(job, timeout=120)
        log = read(out)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, log)
        assert "ranks on hosts: node1 [0], node2 [1]" in log, log
        assert glob.glob(os.path.join(work, "checkpoints", "e004_*.pt")), log
        print(f"job {job}: trained 4 epochs on node1 and node2 ({info['NodeList']})")

    elif SCENARIO == "slurm-requeue":
        # SIGUSR1 to the job: both nodes' ranks checkpoint, exit 75, the job requeues, starts
        # again on both nodes and resumes.
        job, out, work = sbatch_training("slurm-requeue", 2, 200)
        wait_for_first_checkpoint(work, slurm_job_runs(job), out)
        slurm_jobs.run("scancel", "--signal=USR1", job)
        info = slurm_jobs.wait_for(job, timeout=200)
        log = read(out)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, log)
        assert int(info["Restarts"]) == 1, info
        assert "requeueing (restart 1" in log and "resumed from" in log, log
        assert log.count("ranks on hosts: node1 [0], node2 [1]") == 2, log
        assert glob.glob(os.path.join(work, "checkpoints", "e200_*.pt")), log
        print(f"job {job}: stopped by USR1 on both nodes, requeued, resumed on both, completed")

    elif SCENARIO == "slurm-node-lost":
        # Every process of node2 killed, slurmd included: the job ends (the rank on node1
        # times out, names rank 1 on node2 and aborts the step); a job on node1 alone resumes.
        job, out, work = sbatch_training("slurm-node-lost", 2, 200, TSN_MAX_REQUEUES=0)
        wait_for_first_checkpoint(work, slurm_job_runs(job), out)
        lost_at = time.time()
        run(f"kill -9 {' '.join(node_pids('node2'))}")
        # Slurm ends the step once it gives up on node2 (SlurmdTimeout, 20 s in slurm.sh).
        info = slurm_jobs.wait_for(job, timeout=TIMEOUT_S + MARGIN_S + 30)
        ended = time.time() - lost_at
        log = read(out)
        assert info["JobState"] in ("FAILED", "NODE_FAIL", "CANCELLED"), (info, log)
        newest = newest_checkpoint(work)
        again, out2, _ = sbatch_training("slurm-node-lost", 1, 200, fresh=False)
        info2 = slurm_jobs.wait_for(again, timeout=200)
        log2 = read(out2)
        assert info2["JobState"] == "COMPLETED", (info2, log2)
        assert f"resumed from {newest}" in log2, log2
        print(f"job {job}: node2 lost, job {info['JobState']} after {ended:.1f} s; job {again} "
              f"on {info2['NodeList']} alone resumed from {os.path.basename(newest)} and completed")


def main():
    if SCENARIO == "down":
        if os.geteuid() == 0:
            run(f"{EMU}/down.sh")
        return
    skip_unless_namespaces()
    os.makedirs(SUITE, exist_ok=True)
    if not os.path.exists(os.path.join(DATA, "val.list")):
        run(f"{BUILD}/bin/tsn_synth --out {DATA} --classes 4 --videos-per-class 6 --seconds 1 "
            f"--width 96 --height 72 --seed 3")

    if SCENARIO.startswith("slurm-"):
        if not shutil.which("slurmctld", path="/usr/sbin:" + os.environ.get("PATH", "")):
            print("Skipped: slurm-wlm is not installed (tools/dev/install_deps.sh)")
            sys.exit(SKIPPED)
        slurm_scenario()

    elif SCENARIO == "same-losses":
        # The same world size on one node (shared memory) and across two (TCP): the same
        # all-reduce algorithm (multinode.mca's, exported for both) sums in the same order, so
        # the losses must be equal to the last bit.
        env = cluster(2)
        local = dict(env, **multinode_settings())
        for per_node in (1, 2):
            ranks = 2 * per_node
            one = config(f"one-node-{ranks}")
            run(f"{wrapper(ranks)} --config {one}", env=local)
            two = config(f"two-nodes-{ranks}")
            r = run(f"{wrapper(per_node, env['TSN_EMU_HOSTFILE'])} --config {two}", env=env)
            hosts = ", ".join(f"node{n} [{' '.join(str(per_node * (n - 1) + i) for i in range(per_node))}]"
                              for n in (1, 2))
            assert f"ranks on hosts: {hosts}" in r.stdout + r.stderr, r.stdout + r.stderr
            a, b = losses(f"one-node-{ranks}"), losses(f"two-nodes-{ranks}")
            assert a == b, f"{ranks} ranks: one node {a[:4]}... two nodes {b[:4]}..."
            print(f"{ranks} ranks ({per_node} per node): {len(a)} steps, the same losses on one "
                  f"node and on two; {hosts}")

    elif SCENARIO == "node-lost":
        lose_node("killed")

    elif SCENARIO == "partition":
        output = lose_node("cut off")
        # The rank left on node1 names the rank it lost, and that rank's host.
        assert re.search(r"rank 1 \(node2\)", output), output
        print(re.search(r".*rank 1 \(node2\).*", output).group(0))

    elif SCENARIO == "plain-mpirun":
        # As a new user starts it: mpirun and a hostfile, no wrapper, no tuning flags. Every
        # rank applies launcher/multinode.mca itself (the start log says so, with what Open MPI
        # has in force), and a setting the environment gives (mpirun -x) wins.
        env = cluster(2)
        assert not any(k in env for k in multinode_settings()), "the test's own env is tuned"
        cfg = config("plain-mpirun")
        override = "btl_tcp_rcvbuf", "2097152"
        run(f"mpirun --allow-run-as-root --oversubscribe --bind-to none "
            f"--hostfile {env['TSN_EMU_HOSTFILE']} --map-by node -np 2 -x OMP_NUM_THREADS=1 "
            f"-x OMPI_MCA_{override[0]}={override[1]} {BUILD}/bin/tsn_dist --config {cfg} "
            f"--set train.epochs=1", env=env)
        for rank, host in ((0, "node1"), (1, "node2")):
            log = read(os.path.join(SUITE, "plain-mpirun", "logs", f"rank{rank}.log"))
            assert f"on {host}" in log, log
            line = re.search(r".*Open MPI settings: .*", log).group(0)
            for name, value in (
                    (k[len("OMPI_MCA_"):], v) for k, v in multinode_settings().items()):
                if name == override[0]:
                    want = (f"{name} = {override[1]} (environment (OMPI_MCA_{name}); "
                            f"in force: {override[1]})")
                else:
                    want = f"{name} = {value} (tsn-dist default; in force: {value})"
                assert want in line, f"rank {rank}: {want!r} not in {line!r}"
            print(f"rank {rank} on {host}: {line.split('Open MPI settings: ')[1]}")

    elif SCENARIO == "slow-link":
        # node2's link at 20 Mbit/s, the rest unlimited: every rank waits for the all-reduce
        # (ResNet-18 at width 8: 0.7 MB of gradients, ~0.3 s a step on that link).
        env = cluster(2, "--node-rate", "node2=20mbit")
        cfg = config("slow-link")
        r = run(f"{wrapper(1, env['TSN_EMU_HOSTFILE'])} --config {cfg} --set train.epochs=1",
                env=env)
        log = r.stdout + r.stderr
        records = [json.loads(line) for line in open(os.path.join(SUITE, "slow-link", "metrics.jsonl"))]
        train = [x for x in records if x.get("mode") == "train"][1:]  # the first step warms up
        bound = [x for x in train if x.get("network_bound")]
        assert len(bound) >= len(train) // 2, [x.get("step_time_per_rank") for x in train]
        assert "; network: every rank waits" in log, log
        wait = sum(x["network_wait_s"] for x in bound) / len(bound)
        print(f"{len(bound)} of {len(train)} windows network-bound; every rank waits "
              f"{wait:.3f} s/step for the all-reduce")
    elif SCENARIO == "bench-json":
        # tools/bench/multinode_bench.py, tiny: both sides under plain mpirun on the two nodes,
        # with the same setting, in one JSON (it brings the nodes up and down itself).
        skip_unless_torch_distributed()
        out = os.path.join(SUITE, "bench.json")
        run(f"{sys.executable} {SOURCE}/tools/bench/multinode_bench.py --build {BUILD} "
            f"--torch-site '' --rates unlimited --repeats 2 --iters 2 --warmup 1 "
            f"--set data.target_size=32 --set train.batch_size=1 --out {out}", timeout=600)
        with open(out) as f:
            bench = json.load(f)
        assert "plain mpirun" in bench["launch"] and "synthetic" in bench["data"], bench
        (rate,) = bench["rates"]
        assert rate["link_rate"] == "unlimited" and len(rate["runs"]) == 2, rate
        for pair in rate["runs"]:
            ours, theirs = pair["tsn_dist"], pair["pytorch_ddp"]
            assert ours["implementation"].startswith("tsn-dist"), ours
            assert theirs["backend"] == "gloo (DDP)", theirs
            for side in (ours, theirs):
                assert side["ranks"] == 2 and side["clips_per_s"] > 0, side
                assert (side["backbone"], side["batch"], side["size"]) == ("resnet18", 1, 32), side
            assert 0 <= ours["exchange_hidden_share"] <= 1 and ours["exchange_alone_s"] > 0, ours
            assert ours["buckets"] >= 2 and ours["reduce_wait_s"] >= 0, ours
            assert abs(pair["clips_per_s_vs_ddp"] -
                       ours["clips_per_s"] / theirs["clips_per_s"]) < 1e-9, pair
        ratios = [p["clips_per_s_vs_ddp"] for p in rate["runs"]]
        assert min(ratios) <= rate["summary"]["vs_ddp_median"] <= max(ratios), rate["summary"]
        print(f"both sides in one JSON: tsn-dist / DDP {ratios}")
    else:
        sys.exit(f"unknown scenario {SCENARIO}")


if __name__ == "__main__":
    main()
