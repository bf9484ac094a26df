#!/usr/bin/env bash
# Removes the emulated cluster up.sh made: Slurm on it (slurm.sh), every process inside its
# nodes, the namespaces, the links, the bridge and the state directory. Safe to run when nothing
# is up.
#   cluster/emulated/down.sh [--quiet]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
quiet=0
[[ ${1:-} == --quiet ]] && quiet=1
emu_require_root

# Slurm on the nodes (slurm.sh), if it was started: slurmctld runs outside them.
[[ -f $EMU_DIR/slurm/slurm.conf ]] && "$here/slurm.sh" stop
for ns in $(ip netns list | awk '{print $1}' | grep "^$EMU_PREFIX-node" || true); do
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n $pids ]] && kill -9 $pids 2>/dev/null
  ip netns delete "$ns" 2>/dev/null
done
if [[ -d $EMU_DIR/uts ]]; then
  for file in "$EMU_DIR"/uts/*; do
    [[ -e $file ]] || continue
    umount "$file" 2>/dev/null
    rm -f "$file"
  done
fi
for dev in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' |
  grep -E "^(${EMU_PREFIX}v[0-9]+|${EMU_PREFIX}h|$EMU_BRIDGE)$" || true); do
  ip link delete "$dev" 2>/dev/null
done
ip link show "$EMU_IF" >/dev/null 2>&1 && ip link delete "$EMU_IF" 2>/dev/null
rm -rf "$EMU_DIR"
((quiet)) || echo "[emulated] down"
exit 0
