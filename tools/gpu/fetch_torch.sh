#!/usr/bin/env bash
# Installs PyTorch 2.11 (CUDA 13: the LibTorch GPU users and the GPU machine have) with its
# CUDA libraries and NCCL, and torchvision, from PyPI into a folder of its own (pip --target,
# ~4 GB), once; prints that folder. LibTorch is DIR/torch (DIR/torch/share/cmake for CMake),
# NCCL DIR/nvidia/nccl.
#
#   site=$(tools/gpu/fetch_torch.sh [DIR])      # default build-gpu/python
set -euo pipefail
cd "$(dirname "$0")/../.."
site=${1:-build-gpu/python}
torch_version=2.11.0
torchvision_version=0.26.0
if [[ ! -f "$site/.torch-$torch_version" ]]; then
  echo "[torch] pip: torch==$torch_version torchvision==$torchvision_version into $site" >&2
  rm -rf "$site"
  python3 -m pip install --quiet --no-compile --disable-pip-version-check --target "$site" \
    "torch==$torch_version" "torchvision==$torchvision_version" >&2
  touch "$site/.torch-$torch_version"
fi
cd "$site" && pwd
