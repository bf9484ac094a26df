#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (GoogleTest suites and the Python
# cross-check against torchvision) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 600
