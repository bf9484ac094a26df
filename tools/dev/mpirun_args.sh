# Sourced by scripts that call mpirun: sets MPIRUN_ARGS for this machine.
# Open MPI refuses to run as root without --allow-run-as-root; --oversubscribe lets a laptop or
# a 2-core CI machine start more ranks than it has cores.
MPIRUN_ARGS=(--oversubscribe --bind-to none)
if [[ $(id -u) == 0 ]]; then MPIRUN_ARGS+=(--allow-run-as-root); fi
