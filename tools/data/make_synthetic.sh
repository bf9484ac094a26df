#!/usr/bin/env bash
# Makes the synthetic data set configs/synthetic_debug.toml trains on: 10 classes x 50 videos
# (40 train, 10 val), 160x120, 25 fps, 3 s, H.264 with B-frames, GOP 25. Skips the work when
# the set is already there.
#
#   tools/data/make_synthetic.sh [OUT_DIR [SEED]]      # default data/synthetic, seed 1
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-data/synthetic}
if [[ -f "$out/val.list" && -f "$out/train.list" ]]; then
  echo "[synth] $out already exists"
  exit 0
fi
build/bin/tsn_synth --out "$out" --classes 10 --videos-per-class 50 --val-fraction 0.2 \
  --seed "${2:-1}" --width 160 --height 120 --fps 25 --seconds 3 --gop 25
