# Sourced by the emulated cluster's scripts: names, and the steps they share.
EMU_DIR=${TSN_EMU_DIR:-/run/tsn-emulated}
EMU_PREFIX=tsnemu
EMU_BRIDGE=${EMU_PREFIX}br
EMU_IF=emu0
EMU_SUBNET=${TSN_EMU_SUBNET:-10.213.7}
EMU_SLOTS=${TSN_EMU_SLOTS:-2}

emu_die() {
  echo "[emulated] $*" >&2
  exit 2
}

emu_require_root() {
  [[ $(id -u) == 0 ]] || emu_die "needs root (network and UTS namespaces, veth, bridge, tc)"
  for tool in ip tc nsenter unshare; do
    command -v "$tool" >/dev/null || emu_die "needs $tool (iproute2, util-linux)"
  done
}

# The subnet must be nobody else's: no address of this machine in it.
emu_check_subnet_free() {
  if ip -o -4 addr show | awk '{print $4}' | grep -q "^${EMU_SUBNET//./\\.}\."; then
    emu_die "$EMU_SUBNET.0/24 is already in use here; set TSN_EMU_SUBNET to a free /24"
  fi
}

# Everything up.sh made is still there.
emu_intact() {
  ip link show "$EMU_BRIDGE" >/dev/null 2>&1 || return 1
  while read -r _ name; do
    ip netns list | grep -qw "$EMU_PREFIX-$name" || return 1
    mountpoint -q "$EMU_DIR/uts/$name" 2>/dev/null ||
      grep -q " $EMU_DIR/uts/$name " /proc/self/mountinfo || return 1
  done <"$EMU_DIR/nodes"
}

# emu_limit DEV RATE [NETNS]: shapes DEV's egress to RATE (tc rate syntax: 1gbit, 500mbit) with a
# token bucket whose burst holds 4 ms at that rate (at least 64 KiB).
emu_limit() {
  local dev=$1 rate=$2 ns=${3:-} bits burst
  bits=$(tc_rate_bits "$rate")
  burst=$((bits / 8 / 250))
  ((burst >= 65536)) || burst=65536
  ${ns:+ip netns exec "$ns"} tc qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" \
    latency 100ms
}

# tc_rate_bits 1gbit -> 1000000000
tc_rate_bits() {
  local value=${1%%[a-zA-Z]*} unit=${1##*[0-9.]}
  case ${unit,,} in
    gbit) echo $((value * 1000000000)) ;;
    mbit) echo $((value * 1000000)) ;;
    kbit) echo $((value * 1000)) ;;
    bit | "") echo "$value" ;;
    *) emu_die "rate $1: use bit, kbit, mbit or gbit" ;;
  esac
}
