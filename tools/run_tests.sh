#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (GoogleTest suites, the Python checks
# against torchvision, the Slurm tests, the emulated-node tests) through CTest against Debian's
# LibTorch 1.13 (CPU); then the sanitizer build's suites and the fuzz targets
# (tools/dev/sanitize.sh, TSN_FUZZ_SECONDS per target, 30 here); then, where the CUDA toolkit is
# installed (/usr/local/cuda), compiles the LibTorch-version and CUDA dependent sources against
# PyTorch 2.11's LibTorch with CUDA 13 (tools/dev/test_libtorch2.sh --guarded).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's wall time, printed as it ends and again at the end (CI's limit is on the sum).
times=()
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  times+=("$name $((SECONDS - start)) s")
  echo "[tests] $name: $((SECONDS - start)) s"
}
timed deps tools/dev/install_deps.sh
# TensorBoard from PyPI: the test that reads our event files with TensorBoard's own reader
# reports Skipped without it.
tensorboard_site=$(tools/observe/fetch_tensorboard.sh) ||
  echo "[tests] NOT CHECKED: tensorboard could not be installed from PyPI; the TensorBoard test will report Skipped"
timed build tools/dev/build.sh -DTSN_TENSORBOARD_PYTHONPATH="${tensorboard_site:-$PWD/build/python-tb}"
# shellcheck disable=SC2016 # nproc as the inner shell runs it
timed ctest bash -c 'cd build && ctest --output-on-failure -j "$(nproc)" --timeout 600'
# The input readers under ASan + UBSan, and TSN_FUZZ_SECONDS of fuzzing per reader (clang,
# build-asan/).
TSN_FUZZ_SECONDS=${TSN_FUZZ_SECONDS:-30} timed sanitize tools/dev/sanitize.sh
# LibTorch 2.x: where the CUDA toolkit is installed, the sources whose code depends on the
# LibTorch version or on CUDA compiled against PyTorch 2.11's LibTorch with CUDA 13 (what GPU
# users build). The whole variant and its tests: tools/dev/test_libtorch2.sh.
timed libtorch2 tools/dev/test_libtorch2.sh --guarded
echo "[tests] all passed; wall time by phase: ${times[*]/%/,} total $SECONDS s"
