#!/usr/bin/env bash
# Installs TensorBoard from PyPI into a folder of its own (pip --target), once; prints that
# folder. The tests read tsn-dist's event files with it (tests/launcher/read_tensorboard.py,
# PYTHONPATH=DIR). To look at a run: PYTHONPATH=DIR python3 -m tensorboard.main --logdir W/tensorboard
#
#   site=$(tools/observe/fetch_tensorboard.sh [DIR])      # default build/python-tb
set -euo pipefail
cd "$(dirname "$0")/../.."
site=${1:-build/python-tb}
version=2.21.0
if [[ ! -f "$site/.tensorboard-$version" ]]; then
  echo "[tensorboard] pip: tensorboard==$version into $site" >&2
  rm -rf "$site"
  python3 -m pip install --quiet --no-compile --disable-pip-version-check --target "$site" \
    "tensorboard==$version" >&2
  touch "$site/.tensorboard-$version"
fi
cd "$site" && pwd
