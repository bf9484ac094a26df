# Sourced by the tsn-dist batch scripts. Starts one task per GPU (or per requested task on CPU
# nodes) of the allocation, with srun --mpi=pmix (default) or Open MPI's mpirun
# (TSN_LAUNCHER=mpirun), forwards SIGUSR1 / SIGTERM that reach the batch shell to the tasks, and
# returns the tasks' exit status.
#
# Settings (environment, e.g. sbatch --export=ALL,TSN_CONFIG=...):
#   TSN_ROOT      checkout with build/bin (default: the directory sbatch was run from)
#   TSN_LAUNCHER  srun (default) | mpirun
#   TSN_SRUN_ARGS / TSN_MPIRUN_ARGS  extra launcher arguments

TSN_ROOT=${TSN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
TSN_BIN=${TSN_BIN:-$TSN_ROOT/build/bin}
TSN_LAUNCHER=${TSN_LAUNCHER:-srun}

# One intra-op thread per CPU Slurm gave the task.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
# Across nodes, Open MPI's settings for TCP between them (launcher/multinode.mca); srun and
# mpirun both pass the environment on to the tasks.
if ((${SLURM_JOB_NUM_NODES:-1} > 1)); then source "$TSN_ROOT/launcher/multinode_env.sh"; fi

tsn_log() { echo "[$(date +%FT%T)] [${SLURM_JOB_ID:-?}] $*"; }

# SIGUSR1 and a first SIGTERM reach the tasks as SIGUSR1: mpirun ends the whole job on SIGTERM
# (SIGKILL a second later, losing the checkpoint) but forwards SIGUSR1 as it is, and tsn_dist
# treats both alike. A second SIGTERM is passed on as SIGTERM: the tasks end at once.
tsn_terms=0
tsn_forward_signal() {
  local signal=$1 forward=USR1
  if [[ $signal == TERM ]]; then
    tsn_terms=$((tsn_terms + 1))
    ((tsn_terms > 1)) && forward=TERM
  fi
  if [[ $forward == USR1 ]]; then
    tsn_log "batch shell got SIG$signal: forwarding SIGUSR1 to the tasks (checkpoint, then exit 75)"
  else
    tsn_log "batch shell got a second SIGTERM: ending the tasks at once"
  fi
  [[ -n ${tsn_task_pid:-} ]] && kill -s "$forward" "$tsn_task_pid" 2>/dev/null
}

# tsn_launch PROGRAM ARGS...: runs PROGRAM on every task of the allocation and waits,
# forwarding signals meanwhile; sets tsn_status to its exit status.
tsn_launch() {
  local program=$1
  shift
  case $TSN_LAUNCHER in
    srun)
      # --kill-on-bad-exit: a task that fails ends the step (and with it the job) at once.
      srun --mpi=pmix --kill-on-bad-exit=1 ${TSN_SRUN_ARGS:-} "$TSN_BIN/$program" "$@" &
      ;;
    mpirun)
      # Open MPI reads the Slurm allocation itself: one rank per task.
      mpirun -np "${SLURM_NTASKS:-1}" --map-by "ppr:${SLURM_NTASKS_PER_NODE:-1}:node" \
        --bind-to none -x OMP_NUM_THREADS ${TSN_MPIRUN_ARGS:-} "$TSN_BIN/$program" "$@" &
      ;;
    *)
      tsn_log "TSN_LAUNCHER must be srun or mpirun, not $TSN_LAUNCHER"
      return 2
      ;;
  esac
  tsn_task_pid=$!
  trap 'tsn_forward_signal USR1' USR1
  trap 'tsn_forward_signal TERM' TERM
  # A trapped signal interrupts wait; keep waiting until the tasks are gone.
  while true; do
    wait "$tsn_task_pid"
    tsn_status=$?
    kill -0 "$tsn_task_pid" 2>/dev/null || break
  done
  wait "$tsn_task_pid" 2>/dev/null
  tsn_status=$?
  trap - USR1 TERM
  tsn_task_pid=
  tsn_log "$program exited with $tsn_status"
}
