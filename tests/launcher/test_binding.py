"""launcher/tsn_bind and tsn_mpirun's placement against fake topologies (SMT on and off, one
and two sockets, GPUs on either NUMA node, a Slurm allocation's cpuset, a hostfile with slots),
and one real run of tsn_mpirun whose ranks report the CPUs they were bound to."""
import os
import subprocess
import tempfile
import unittest

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIND = os.path.join(SOURCE, "launcher", "tsn_bind")
MPIRUN = os.path.join(SOURCE, "launcher", "tsn_mpirun")


def topology(sockets, cores_per_socket, smt):
    """lscpu -p=CPU,CORE,SOCKET,NODE lines numbered as Linux numbers an Intel node: the first
    hardware thread of every core, then the siblings; one NUMA node per socket."""
    cores = sockets * cores_per_socket
    lines = ["# CPU,Core,Socket,Node"]
    for cpu in range(cores * (2 if smt else 1)):
        core = cpu % cores
        socket = core // cores_per_socket
        lines.append(f"{cpu},{core},{socket},{socket}")
    return "\n".join(lines) + "\n"


class Binding(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def plan(self, topo, ranks, allowed=None, gpu_numa=None, extra=None):
        """Every local rank's --print line, parsed: [{cpus: set, threads, numa, gpu}]."""
        path = os.path.join(self.dir.name, "topology")
        with open(path, "w") as f:
            f.write(topo)
        cpus = [int(l.split(",")[0]) for l in topo.splitlines() if not l.startswith("#")]
        plans = []
        for rank in range(ranks):
            env = dict(os.environ, TSN_TOPOLOGY=path, OMPI_COMM_WORLD_LOCAL_RANK=str(rank),
                       OMPI_COMM_WORLD_LOCAL_SIZE=str(ranks),
                       TSN_CPUS_ALLOWED=allowed or f"0-{max(cpus)}", TSN_CPUS_PER_RANK="")
            env.pop("CUDA_VISIBLE_DEVICES", None)
            if gpu_numa is not None:
                env["TSN_GPU_NUMA"] = gpu_numa
            env.update(extra or {})
            r = subprocess.run([BIND, "--print"], env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            fields = dict(kv.split("=") for kv in r.stdout.split())
            plans.append({"cpus": expand(fields["cpus"]), "threads": int(fields["threads"]),
                          "numa": int(fields["numa"]), "gpu": int(fields["gpu"]),
                          "stderr": r.stderr})
        return plans

    def assertDisjoint(self, plans):
        seen = set()
        for p in plans:
            self.assertFalse(seen & p["cpus"], plans)
            seen |= p["cpus"]

    def test_smt_counts_physical_cores_and_binds_their_siblings(self):
        # 8 cores, 16 hardware threads, 4 ranks: 2 cores each (nproc / ranks would say 4).
        plans = self.plan(topology(1, 8, smt=True), 4)
        self.assertEqual([p["threads"] for p in plans], [2, 2, 2, 2])
        self.assertEqual(plans[0]["cpus"], {0, 1, 8, 9})
        self.assertEqual(plans[3]["cpus"], {6, 7, 14, 15})
        self.assertDisjoint(plans)

    def test_without_smt_each_rank_takes_a_block_of_cores(self):
        plans = self.plan(topology(1, 8, smt=False), 4)
        self.assertEqual([sorted(p["cpus"]) for p in plans], [[0, 1], [2, 3], [4, 5], [6, 7]])

    def test_ranks_bind_to_the_numa_node_of_their_gpu(self):
        # Two sockets; GPUs 0-1 hang off socket 1, GPUs 2-3 off socket 0.
        plans = self.plan(topology(2, 4, smt=True), 4, gpu_numa="1,1,0,0")
        self.assertEqual([p["numa"] for p in plans], [1, 1, 0, 0])
        self.assertEqual(plans[0]["cpus"], {4, 5, 12, 13})
        self.assertEqual(plans[2]["cpus"], {0, 1, 8, 9})
        self.assertEqual([p["gpu"] for p in plans], [0, 1, 2, 3])
        self.assertDisjoint(plans)
        # 8 GPUs, 4 per socket, 8 cores per socket: each rank 2 cores of its GPU's socket.
        plans = self.plan(topology(2, 8, smt=False), 8, gpu_numa="0,0,0,0,1,1,1,1")
        for rank, p in enumerate(plans):
            socket = {c // 8 for c in p["cpus"]}
            self.assertEqual(socket, {rank // 4}, (rank, p))
        # All GPUs on socket 0, 2 ranks of 4 cores: the first fills socket 0, the second spills.
        plans = self.plan(topology(2, 4, smt=False), 2, gpu_numa="0,0")
        self.assertEqual(plans[0]["cpus"], {0, 1, 2, 3})
        self.assertEqual(plans[1]["cpus"], {4, 5, 6, 7})

    def test_cuda_visible_devices_picks_which_gpus_local_ranks_drive(self):
        plans = self.plan(topology(2, 4, smt=False), 2, gpu_numa="0,0,1,1",
                          extra={"CUDA_VISIBLE_DEVICES": "2,3"})
        self.assertEqual([p["numa"] for p in plans], [1, 1])

    def test_a_slurm_allocation_is_the_cores_to_share(self):
        # Slurm gave this job 4 cores (8 threads) of a 16-thread node; 2 tasks on it.
        plans = self.plan(topology(1, 8, smt=True), 2, allowed="2-5,10-13",
                          extra={"OMPI_COMM_WORLD_LOCAL_RANK": "", "OMPI_COMM_WORLD_LOCAL_SIZE": "",
                                 "SLURM_NTASKS_PER_NODE": "2(x2)"})
        # Without Open MPI's variables the rank comes from SLURM_LOCALID (unset here: 0).
        self.assertEqual(plans[0]["cpus"], {2, 3, 10, 11})
        self.assertEqual(plans[0]["threads"], 2)

    def test_slurm_without_ntasks_per_node_takes_the_tasks_per_node(self):
        plans = self.plan(topology(1, 8, smt=False), 1,
                          extra={"OMPI_COMM_WORLD_LOCAL_RANK": "", "OMPI_COMM_WORLD_LOCAL_SIZE": "",
                                 "SLURM_LOCALID": "1", "SLURM_TASKS_PER_NODE": "2(x3),1"})
        self.assertEqual(plans[0]["cpus"], {4, 5, 6, 7})
        # A rank outside the node's count is refused, not bound to nothing.
        env = dict(os.environ, OMPI_COMM_WORLD_LOCAL_RANK="3", OMPI_COMM_WORLD_LOCAL_SIZE="2")
        r = subprocess.run([BIND, "--print"], env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("local rank 3 of 2", r.stderr)

    def test_more_ranks_than_cores_share_them_and_say_so(self):
        plans = self.plan(topology(1, 2, smt=False), 3)
        self.assertEqual([p["threads"] for p in plans], [1, 1, 1])
        self.assertIn("3 ranks", plans[0]["stderr"])
        self.assertIn("share its 2 cores", plans[0]["stderr"])
        self.assertEqual(plans[1]["stderr"], "")

    def test_mpirun_slots_follow_physical_cores_and_hostfile_slots(self):
        path = os.path.join(self.dir.name, "topology")
        with open(path, "w") as f:
            f.write(topology(1, 8, smt=True))
        env = dict(os.environ, TSN_TOPOLOGY=path, TSN_CPUS_ALLOWED="0-15")

        def dry(*args):
            return subprocess.run([MPIRUN, *args, "--dry-run", "--", "x"], env=env,
                                  capture_output=True, text=True)
        # 8 physical cores here: 8 ranks fit, 9 oversubscribe (16 threads would hide that).
        self.assertNotIn("--oversubscribe", dry("--ranks-per-node", "8").stdout)
        self.assertIn("--oversubscribe", dry("--ranks-per-node", "9").stdout)
        hostfile = os.path.join(self.dir.name, "hosts")
        with open(hostfile, "w") as f:
            f.write("# nodes\nnode1 slots=8\n\nnode2 slots=4\n")
        r = dry("--gpus-per-node", "8", "--hostfile", hostfile)
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 4: node2 slots=4: fewer slots than the 8 ranks per node", r.stderr)
        r = dry("--gpus-per-node", "4", "--hostfile", hostfile)
        self.assertEqual(r.returncode, 0, r.stderr)
        for part in ("-np 8", "--map-by ppr:4:node --bind-to none", "TSN_BIND=core",
                     "CUDA_DEVICE_ORDER=PCI_BUS_ID", "launcher/tsn_bind"):
            self.assertIn(part, r.stdout)
        self.assertNotIn("--oversubscribe", r.stdout)

    def test_ranks_started_by_tsn_mpirun_run_on_their_own_cores(self):
        report = ('echo "$(grep Cpus_allowed_list /proc/self/status | cut -f2) '
                  '$OMP_NUM_THREADS"')
        r = subprocess.run([MPIRUN, "--ranks-per-node", "2", "--binary", "/bin/bash", "--",
                            "-c", report], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l.split() for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(len(lines), 2, r.stdout)
        sets = [expand(cpus) for cpus, _ in lines]
        self.assertFalse(sets[0] & sets[1], r.stdout)
        threads = [int(t) for _, t in lines]
        self.assertEqual(threads[0], threads[1], r.stdout)
        self.assertGreaterEqual(threads[0], 1)


def expand(ranges):
    out = set()
    for part in ranges.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


if __name__ == "__main__":
    unittest.main()
