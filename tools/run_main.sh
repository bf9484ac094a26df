#!/usr/bin/env bash
# The main job end to end on a fresh machine: install dependencies, build, make the synthetic
# data set, train the tiny TSN with mpirun (2 ranks; TSN_RANKS=N for another count), evaluate
# its best checkpoint with tsn_eval on the same ranks (3 crops), print top-1 and the curves.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/dev/install_deps.sh
tools/dev/build.sh
tools/data/make_synthetic.sh data/synthetic
source tools/dev/mpirun_args.sh
work_dir=work_dirs/synthetic_debug
rm -rf "$work_dir"
# One intra-op thread per rank: 2 ranks (plus a decode worker each) on 2 cores.
mpirun -np "${TSN_RANKS:-2}" "${MPIRUN_ARGS[@]}" -x OMP_NUM_THREADS=1 build/bin/tsn_dist \
  --config configs/synthetic_debug.toml --set train.work_dir="$work_dir"
mpirun -np "${TSN_RANKS:-2}" "${MPIRUN_ARGS[@]}" -x OMP_NUM_THREADS=1 build/bin/tsn_eval \
  --config configs/synthetic_debug.toml --checkpoint "$work_dir/checkpoints/best.pt" --crops 3 \
  --output "$work_dir/eval/scores.json"
/usr/bin/python3 tools/observe/plot_metrics.py "$work_dir/metrics.jsonl" "$work_dir/curves.png"
echo "metric log: $work_dir/metrics.jsonl; resolved config: $work_dir/config.toml;" \
  "checkpoints: $work_dir/checkpoints; per-video scores: $work_dir/eval/scores.json"
