#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (GoogleTest suites and the Python
# cross-check against torchvision) through CTest. Where the CUDA toolkit and NCCL are installed
# (/usr/local/cuda), also builds the TSN_WITH_CUDA=ON variant and runs its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 600)

cuda_root=${CUDA_HOME:-/usr/local/cuda}
if [[ -f "$cuda_root/include/nccl.h" ]]; then
  echo "[tests] TSN_WITH_CUDA=ON build against $cuda_root"
  TSN_BUILD_DIR=build-cuda TSN_BUILD_TARGETS="tsn_dist dist_nccl_tests dist_nccl_mpi_tests" tools/build.sh -DTSN_WITH_CUDA=ON -DCUDAToolkit_ROOT="$cuda_root"
  (cd build-cuda && ctest --output-on-failure -L cuda --timeout 600)
else
  echo "[tests] no NCCL under $cuda_root: TSN_WITH_CUDA=ON build not checked"
fi
