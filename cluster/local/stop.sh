#!/usr/bin/env bash
# Stops the single-node Slurm cluster cluster/local/start.sh started (slurmd, slurmctld; munge
# is left running for other users of it). Idempotent.
set -uo pipefail
dir=${TSN_SLURM_DIR:-/tmp/tsn-slurm}
for daemon in slurmd slurmctld; do
  pidfile=$dir/$daemon.pid
  if [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null; then
    echo "[slurm] stopped $daemon"
  fi
done
for _ in $(seq 1 20); do
  pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || exit 0
  sleep 0.25
done
pkill -x slurmd; pkill -x slurmctld
exit 0
