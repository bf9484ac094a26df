#!/usr/bin/env bash
# The build GPU users make: tsn-dist with TSN_WITH_CUDA=ON against PyTorch 2.11's LibTorch with
# CUDA 13 (tools/gpu/fetch_torch.sh, ~4.6 GB from PyPI) and the CUDA toolkit, in build-cuda/.
#
#   tools/dev/test_libtorch2.sh            # build everything, run every test but the Slurm and
#                                          # emulated-node ones on the CPU (CUDA tests: Skipped)
#   tools/dev/test_libtorch2.sh --guarded  # compile only the sources whose code depends on the
#                                          # LibTorch version or on CUDA (what CI runs)
#   TSN_BUILD_DIR=DIR ...                  # another build folder
#
# Run it in full before landing a C++ change: CI compiles only the guarded sources (docs/building.md),
# to stay within its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-all}
[[ $mode == all || $mode == --guarded ]] || { echo "usage: $0 [--guarded]" >&2; exit 2; }
cuda_root=${CUDA_HOME:-/usr/local/cuda}
if [[ ! -x $cuda_root/bin/nvcc ]]; then
  echo "[libtorch2] NOT CHECKED: no CUDA toolkit under $cuda_root (set CUDA_HOME)"
  exit 0
fi
if ! site=$(tools/gpu/fetch_torch.sh); then
  echo "[libtorch2] NOT CHECKED: PyTorch 2.11 could not be installed from PyPI"
  exit 1
fi
build=${TSN_BUILD_DIR:-build-cuda}
configure=(-DTSN_WITH_CUDA=ON -DCUDAToolkit_ROOT="$cuda_root"
  -DCMAKE_PREFIX_PATH="$site/torch/share/cmake" -DNCCL_ROOT="$site/nvidia/nccl")
echo "[libtorch2] TSN_WITH_CUDA=ON against $site/torch and $cuda_root in $build/"

if [[ $mode == all ]]; then
  # TensorBoard's reader for the event-file test, as tools/run_tests.sh gives the CPU build.
  if tensorboard_site=$(tools/observe/fetch_tensorboard.sh); then
    configure+=(-DTSN_TENSORBOARD_PYTHONPATH="$tensorboard_site")
  fi
  TSN_BUILD_DIR=$build tools/dev/build.sh "${configure[@]}"
  cd "$build" && ctest --output-on-failure -j "$(nproc)" --timeout 600 -LE "slurm|multinode"
  exit
fi

# --guarded: the sources that name TSN_WITH_CUDA or TORCH_VERSION, directly or through a header
# of ours, and the CUDA-only ones (NCCL, CUDA tests): their object files (every target that
# compiles them, from compile_commands.json), nothing linked.
configure+=(-DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
TSN_BUILD_DIR=$build TSN_BUILD_TARGETS=tsn_pch tools/dev/build.sh "${configure[@]}"
guarded_headers=$(grep -rlE "TSN_WITH_CUDA|TORCH_VERSION" src --include='*.h' | sed 's|^src/||')
sources=$( (
  grep -rlE "TSN_WITH_CUDA|TORCH_VERSION" src tools tests --include='*.cpp'
  for header in $guarded_headers; do
    grep -rlF "#include \"$header\"" src tools tests --include='*.cpp' || true
  done
  git ls-files 'src/distributed/Nccl*.cpp' 'tests/distributed/Nccl*.cpp' 'tests/train/Cuda*.cpp'
) | sort -u)
# The compiler commands themselves (a Ninja target for an object file would first build every
# target it depends on), $(nproc) at a time.
# shellcheck disable=SC2086 # one argument per source path
python3 - "$build/compile_commands.json" "$(nproc)" $sources <<'PY'
import json, os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
commands, jobs = json.load(open(sys.argv[1])), int(sys.argv[2])
sources = {os.path.abspath(s) for s in sys.argv[3:]}
missing = sorted(sources - {os.path.abspath(c["file"]) for c in commands})
if missing:
    sys.exit("[libtorch2] not compiled in this build: " + " ".join(missing))
chosen = [c for c in commands if os.path.abspath(c["file"]) in sources]
print(f"[libtorch2] compiling {len(sources)} sources ({len(chosen)} compiler runs):",
      " ".join(sorted(os.path.relpath(s) for s in sources)), flush=True)
def compile_one(c):
    r = subprocess.run(c["command"], shell=True, cwd=c["directory"], capture_output=True, text=True)
    return c["file"], r.returncode, r.stdout + r.stderr
failed = 0
with ThreadPoolExecutor(jobs) as pool:
    for file, rc, output in pool.map(compile_one, chosen):
        print(f"[libtorch2] {os.path.relpath(file)}: {'ok' if rc == 0 else 'FAILED'}", flush=True)
        if rc != 0:
            failed += 1
            print(output, flush=True)
sys.exit(f"[libtorch2] {failed} sources do not compile against this LibTorch" if failed else 0)
PY
