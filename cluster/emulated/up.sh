#!/usr/bin/env bash
# Emulates a cluster of N nodes on this machine: each node is a network namespace and a UTS
# namespace (its own host name, node1..nodeN) with an interface of the same name in each
# (emu0), an address on one private bridge, and an optional rate limit on its link; mpirun,
# outside the nodes, reaches them through an emu0 of its own on the same bridge. Nothing routes
# off the bridge: the nodes have no default route, and only this bridge's subnet is theirs.
#
#   cluster/emulated/up.sh 2 [--link-rate 1gbit] [--node-rate node2=100mbit]
#   source /run/tsn-emulated/env      # OMPI_MCA_plm_rsh_agent: mpirun's remote shell into nodes
#   mpirun --hostfile /run/tsn-emulated/hostfile --mca btl_tcp_if_include emu0 \
#     --mca oob_tcp_if_include emu0 -np 2 build/bin/tsn_dist --config ...
#   launcher/tsn_mpirun --hostfile /run/tsn-emulated/hostfile --net-if emu0 -- --config ...
#   cluster/emulated/down.sh          # removes all of it
#
# Needs root (namespaces, veth, bridge, tc). Idempotent: a second call with the same arguments
# changes nothing; other arguments rebuild the cluster. Touches nothing it did not make (no
# /etc/hosts: the hostfile names nodes by address). State in $TSN_EMU_DIR (/run/tsn-emulated):
#   hostfile   "ADDRESS slots=S" per node          nodes   "ADDRESS NAME" per node
#   env        to source: TSN_EMU_* facts and OMPI_MCA_plm_rsh_agent (the agent beside this)
#   uts/NAME   the node's UTS namespace (bind mount)
# Settings: TSN_EMU_SUBNET (first three octets, default 10.213.7), TSN_EMU_SLOTS (slots per node
# in the hostfile, default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"

nodes=${1:-}
[[ $nodes =~ ^[1-9][0-9]?$ ]] || emu_die "usage: up.sh N [--link-rate RATE] [--node-rate NAME=RATE] (N from 1 to 99)"
shift
rate=""
declare -A node_rate=()
while (($#)); do
  case $1 in
    --link-rate) rate=$2; shift 2 ;;
    --node-rate) node_rate[${2%%=*}]=${2#*=}; shift 2 ;;
    *) emu_die "unknown option $1" ;;
  esac
done
emu_require_root

wanted="nodes=$nodes rate=$rate node_rates=$(for k in "${!node_rate[@]}"; do echo -n "$k=${node_rate[$k]},"; done) subnet=$EMU_SUBNET slots=$EMU_SLOTS"
if [[ -f $EMU_DIR/spec ]] && [[ $(cat "$EMU_DIR/spec") == "$wanted" ]] && emu_intact; then
  echo "[emulated] $nodes nodes already up ($EMU_DIR)"
  exit 0
fi
"$here/down.sh" --quiet
emu_check_subnet_free

mkdir -p "$EMU_DIR/uts"
# The bridge, and mpirun's own side of it (emu0 in this namespace).
ip link add "$EMU_BRIDGE" type bridge
ip link set "$EMU_BRIDGE" up
ip link add "$EMU_IF" type veth peer name "${EMU_PREFIX}h"
ip link set "${EMU_PREFIX}h" master "$EMU_BRIDGE" up
ip addr add "$EMU_SUBNET.254/24" dev "$EMU_IF"
ip link set "$EMU_IF" up

: >"$EMU_DIR/hostfile"
: >"$EMU_DIR/nodes"
for ((i = 1; i <= nodes; i++)); do
  name=node$i ns=$EMU_PREFIX-node$i outer=${EMU_PREFIX}v$i address=$EMU_SUBNET.$i
  ip netns add "$ns"
  ip link add "$outer" type veth peer name "$EMU_IF" netns "$ns"
  ip link set "$outer" master "$EMU_BRIDGE" up
  ip -n "$ns" addr add "$address/24" dev "$EMU_IF"
  ip -n "$ns" link set "$EMU_IF" up
  ip -n "$ns" link set lo up
  # The node's host name lives in a UTS namespace of its own, kept by a bind mount.
  touch "$EMU_DIR/uts/$name"
  unshare --uts="$EMU_DIR/uts/$name" hostname "$name"
  link_rate=${node_rate[$name]:-$rate}
  if [[ -n $link_rate ]]; then
    emu_limit "$outer" "$link_rate"                    # towards the node
    emu_limit "$EMU_IF" "$link_rate" "$ns"             # from the node
  fi
  echo "$address slots=$EMU_SLOTS" >>"$EMU_DIR/hostfile"
  echo "$address $name" >>"$EMU_DIR/nodes"
done
cat >"$EMU_DIR/env" <<ENV
# source this: the emulated cluster's facts, and mpirun's remote shell into its nodes
export TSN_EMU_DIR=$EMU_DIR
export TSN_EMU_NODES=$nodes
export TSN_EMU_IF=$EMU_IF
export TSN_EMU_SUBNET=$EMU_SUBNET
export TSN_EMU_HOSTFILE=$EMU_DIR/hostfile
export TSN_EMU_AGENT=$here/agent
export TSN_EMU_ADDRESSES="$(awk '{printf "%s%s", sep, $1; sep=" "}' "$EMU_DIR/nodes")"
export OMPI_MCA_plm_rsh_agent=$here/agent
ENV
echo "$wanted" >"$EMU_DIR/spec"
echo "[emulated] $nodes nodes up: $(awk '{printf "%s%s (%s)", sep, $2, $1; sep=", "}' "$EMU_DIR/nodes")" \
  "${rate:+, links limited to $rate}; hostfile $EMU_DIR/hostfile"
