#!/usr/bin/env bash
# Installs every system package tsn-dist needs to build, test and run, from Debian's archive.
# Idempotent: packages already present are skipped by apt-get; safe to run on every CI run.
#
#   tools/dev/install_deps.sh            # everything (build, tests, Slurm, Python checkpoint tests)
#   TSN_DEPS_SKIP_SLURM=1 tools/...  # leave out slurm-wlm and munge (laptops without Slurm)
#   tools/dev/install_deps.sh PKG ...    # the same plus these (tools/gpu/prepare.sh adds its own)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache clang-format git
  # LibTorch (CPU, 1.13) and a fast BLAS for it: without libopenblas0-openmp LibTorch falls
  # back to reference BLAS and a matrix product is ~20x slower.
  libtorch-dev libopenblas0-openmp
  # MPI
  openmpi-bin libopenmpi-dev
  # FFmpeg libraries and the ffmpeg/ffprobe CLI (tests compare frame accuracy against it)
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  # OpenCV (libopencv-dev carries OpenCVConfig.cmake; we link core, imgproc, imgcodecs)
  libopencv-dev
  # libjpeg-turbo's TurboJPEG API: decoding the JPEG frames of packed shards and rawframes
  libturbojpeg0-dev
  # header libraries and test framework
  libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  # Python side: checkpoint interoperability tests and plots
  python3 python3-torch python3-torchvision python3-numpy python3-matplotlib
  # the emulated nodes of the multinode tests (cluster/emulated): ip, tc, nsenter, unshare
  iproute2 util-linux
)
if [[ "${TSN_DEPS_SKIP_SLURM:-0}" != 1 ]]; then
  packages+=(slurm-wlm munge)
fi
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "[deps] all ${#packages[@]} packages present"
  exit 0
fi

echo "[deps] installing ${#missing[@]} packages: ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "[deps] done"
