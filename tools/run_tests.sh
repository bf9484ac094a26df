#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (GoogleTest suites, the Python checks
# against torchvision, the Slurm tests, the emulated-node tests) through CTest against Debian's
# LibTorch 1.13 (CPU); then the sanitizer build's suites and the fuzz targets
# (tools/dev/sanitize.sh). Where the CUDA toolkit is installed (/usr/local/cuda), also builds the
# TSN_WITH_CUDA=ON variant against PyTorch 2.11's LibTorch with CUDA 13 from PyPI (what GPU users
# build) and runs every test but the Slurm and emulated-node ones against it here on the CPU; its
# CUDA-labelled tests report Skipped without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/dev/install_deps.sh
# TensorBoard from PyPI: the test that reads our event files with TensorBoard's own reader
# reports Skipped without it.
tensorboard_site=$(tools/observe/fetch_tensorboard.sh) ||
  echo "[tests] NOT CHECKED: tensorboard could not be installed from PyPI; the TensorBoard test will report Skipped"
tools/dev/build.sh -DTSN_TENSORBOARD_PYTHONPATH="${tensorboard_site:-$PWD/build/python-tb}"
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 600)
# The input readers under ASan + UBSan, and a minute of fuzzing per reader (clang, build-asan/).
tools/dev/sanitize.sh

cuda_root=${CUDA_HOME:-/usr/local/cuda}
if [[ -x "$cuda_root/bin/nvcc" ]] && ! site=$(tools/gpu/fetch_torch.sh); then
  echo "[tests] NOT CHECKED: PyTorch 2.11 could not be installed from PyPI; the TSN_WITH_CUDA=ON build against LibTorch 2.11 did not run"
elif [[ -x "$cuda_root/bin/nvcc" ]]; then
  echo "[tests] TSN_WITH_CUDA=ON build against PyTorch 2.11's LibTorch ($site/torch) and $cuda_root"
  TSN_BUILD_DIR=build-cuda tools/dev/build.sh -DTSN_WITH_CUDA=ON -DCUDAToolkit_ROOT="$cuda_root" \
    -DTSN_TENSORBOARD_PYTHONPATH="${tensorboard_site:-$PWD/build/python-tb}" \
    -DCMAKE_PREFIX_PATH="$site/torch/share/cmake" -DNCCL_ROOT="$site/nvidia/nccl"
  (cd build-cuda && ctest --output-on-failure -j "$(nproc)" --timeout 600 -LE "slurm|multinode")
else
  echo "[tests] no CUDA toolkit under $cuda_root: the TSN_WITH_CUDA=ON build against LibTorch 2.11 is not checked"
fi
