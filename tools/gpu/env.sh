# Sourced: the environment the programs of gpu-bundle/ run in (tools/gpu/prepare.sh makes the
# bundle): their libraries, then LibTorch's and its CUDA libraries (those of the python3 that
# has torch, or TSN_TORCH_DIR / TSN_NVIDIA_DIR), and the bundle's Open MPI.
#
#   source tools/gpu/env.sh gpu-bundle
tsn_gpu_env() {
  local bundle torch_dir nvidia_dir libs d
  bundle=$(cd "$1" && pwd) || return 1
  torch_dir=${TSN_TORCH_DIR:-$("${TSN_PYTHON:-python3}" -c \
    'import os, torch; print(os.path.dirname(torch.__file__))')} || {
    echo "env.sh: no torch for ${TSN_PYTHON:-python3} (set TSN_TORCH_DIR)" >&2
    return 1
  }
  nvidia_dir=${TSN_NVIDIA_DIR:-$(dirname "$torch_dir")/nvidia}
  libs=$bundle/lib:$bundle/mpi/lib:$torch_dir/lib
  for d in "$nvidia_dir"/*/lib; do [[ -d "$d" ]] && libs+=":$d"; done
  # g++ 12's libstdc++ (GLIBCXX_3.4.30) only where the machine's own is older.
  if ! grep -q GLIBCXX_3.4.30 "$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')" \
    2>/dev/null; then
    libs+=":$bundle/lib/fallback"
  fi
  # check.py runs Python (torch, torchvision) with the machine's own libraries and the bundle's
  # programs with these.
  export TSN_SYSTEM_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
  export TSN_BUNDLE_LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LD_LIBRARY_PATH=$TSN_BUNDLE_LD_LIBRARY_PATH
  export PATH=$bundle/bin:$bundle/mpi/bin:$PATH
  export OPAL_PREFIX=$bundle/mpi
  export TSN_BUNDLE=$bundle TSN_TORCH_DIR=$torch_dir
}
tsn_gpu_env "$1"
