#!/usr/bin/env bash
# The GPU check, one command on the GPU machine (one H200, no network; docs/gpu-check.md), from
# gpu-bundle/ (tools/gpu/prepare.sh makes it on a CPU machine). Steps, in this order, each with
# its own cap and a minimum start inside a 330 s budget (tools/gpu/check_support.py, PLAN):
# environment, single-GPU training end to end, our step vs PyTorch's, GPU resume and fp16, the
# CUDA tests, NCCL + Open MPI tests last. Writes OUT/check.json (every figure and a status per
# step: passed, failed, or not_run, never a skip counted as a pass), OUT/check.log,
# OUT/commands.log, OUT/warnings.log (NCCL / Open MPI / CUDA warning lines of every command),
# OUT/tests.log, OUT/tests_mpi.log and OUT/e2e_metrics.jsonl. Exit 0 when no step failed (and,
# on a GPU, every step ran), 1 when one failed, 3 when a GPU step did not run (time budget).
#
#   tools/gpu/check.sh --out DIR [--bundle gpu-bundle] [--cpu] [--budget-s 330] [--steps a,b]
#
# --cpu: the same steps at a small size on the CPU; whatever needs a GPU is reported not_run.
# Without --cpu and no GPU visible (nvidia-smi), the check fails (exit 1). On the device machine:
#   tools/gpu/check.sh --out "$OUT/check"                      (carry gpu-bundle; timeout_s 420)
#   tools/gpu/check.sh --out "$OUT/check2" --steps bench,nccl_mpi  (a rerun, machine warm; the
#                                                 environment step always runs first)
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=gpu-bundle out="" mode=gpu extra=()
while (($#)); do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cpu) mode=cpu; shift ;;
    --budget-s|--steps) extra+=("$1" "$2"); shift 2 ;;
    *) echo "check.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || { echo "check.sh: --out DIR is required" >&2; exit 2; }
[[ -f "$bundle/manifest.json" ]] || {
  echo "check.sh: no $bundle/manifest.json: make the bundle with tools/gpu/prepare.sh" >&2
  exit 2
}
mkdir -p "$out"
out=$(cd "$out" && pwd)
source tools/gpu/env.sh "$bundle"
# GPU mode needs a GPU: a machine without one (or without nvidia-smi) is a failed check, never a
# CPU run that exits 0. --cpu asks for CPU mode.
if [[ $mode == gpu ]] && ! gpus=$(nvidia-smi -L 2>&1); then
  echo "check.sh: GPU mode, but nvidia-smi -L failed: ${gpus:-no output}; run with --cpu for CPU mode" >&2
  exit 1
fi
work=${TSN_CHECK_WORK:-${TMPDIR:-/tmp}/tsn-gpu-check}
LD_LIBRARY_PATH=$TSN_SYSTEM_LD_LIBRARY_PATH "${TSN_PYTHON:-python3}" tools/gpu/check.py --bundle "$bundle" --out "$out" --work "$work" \
  --mode "$mode" "${extra[@]}" 2>&1 | tee "$out/check.log"
