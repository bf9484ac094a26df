#!/usr/bin/env bash
# Installs the Python video loaders that tools/bench/bench_load_peers.py compares with our data
# loader, from PyPI, each into a folder of its own (pip --target), once; prints that folder.
# decord and decord2 both install as module `decord`, hence one folder per package:
# DIR/torchcodec, DIR/decord, DIR/decord2, DIR/pyav; and OpenCV (DIR/opencv) for the peers
# reading packed JPEG frames (--shards; torchvision's decode_jpeg comes with torch). Torch and
# torchvision (and numpy) are tools/gpu/fetch_torch.sh's; the peers go in with --no-deps so that none brings a second copy.
# TorchCodec 0.11 is the release built against torch 2.11; it loads the system FFmpeg at run
# time (Debian 12: FFmpeg 5.1, apt packages libavcodec59 libavformat59 libavutil57 libswscale6
# libswresample4 libavdevice59 libavfilter8); decord, decord2 and PyAV wheels carry their own.
#
#   site=$(tools/bench/fetch_load_peers.sh [DIR])      # default build-peers
set -euo pipefail
cd "$(dirname "$0")/../.."
site=${1:-build-peers}
torch_site=$(tools/gpu/fetch_torch.sh)

# peer folder, pip requirement, import check
peers=(
  "torchcodec|torchcodec==0.11.*|import torchcodec; from torchcodec.decoders import VideoDecoder"
  "decord|decord==0.6.0|import decord; decord.VideoReader"
  "decord2|decord2==3.4.*|import decord; decord.VideoReader"
  "pyav|av|import av; av.open"
  "opencv|opencv-python-headless==4.*|import cv2; cv2.imdecode"
)
mkdir -p "$site"
for entry in "${peers[@]}"; do
  IFS='|' read -r name requirement check <<<"$entry"
  marker="$site/.$name-installed"
  if [[ ! -f "$marker" ]]; then
    echo "[peers] pip: $requirement into $site/$name" >&2
    rm -rf "${site:?}/$name"
    python3 -m pip install --quiet --no-compile --disable-pip-version-check --no-deps \
      --target "$site/$name" "$requirement" >&2
    if ! PYTHONPATH="$site/$name:$torch_site" python3 -c "$check" >&2; then
      echo "[peers] $name: installed but does not import (see above)" >&2
      exit 1
    fi
    touch "$marker"
  fi
done
cd "$site" && pwd
