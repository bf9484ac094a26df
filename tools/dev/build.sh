#!/usr/bin/env bash
# Configures and builds tsn-dist into build/ (executables in build/bin/).
#
#   tools/dev/build.sh                     # Release build with tests
#   TSN_BUILD_DIR=build-cuda tools/dev/build.sh -DTSN_WITH_CUDA=ON -DCMAKE_PREFIX_PATH=/path/to/libtorch
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${TSN_BUILD_DIR:-build}
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif (($# > 0)); then
  cmake -S . -B "$build_dir" "$@"
fi
# ccache must not trust precompiled headers blindly; these settings make it safe with them.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
# TSN_BUILD_TARGETS: build only these targets (space-separated); default everything.
read -r -a targets <<<"${TSN_BUILD_TARGETS:-all}"
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"
