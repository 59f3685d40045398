#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs what it needs (build tools, libraries,
# Debian's dataset-fashion-mnist), builds figs in Release, and runs a FiGS search + retrain on
# Fashion-MNIST with the default small One-Shot preset into runs/<date>. Extra arguments go to
# `figs run` (e.g. --quick for a ~1 minute smoke run, --set search.lambda=8).
#   bash scripts/main-job.sh [figs run options]
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(cmake ninja-build g++ libdnnl-dev ocl-icd-opencl-dev nlohmann-json3-dev libcli11-dev zlib1g-dev
          libpng-dev libturbojpeg0-dev libgtest-dev libbenchmark-dev gnuplot-nox dataset-fashion-mnist)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" --target figs_app
RUN_DIR=${RUN_DIR:-runs/fashion-mnist-$(date +%Y%m%d-%H%M%S)}
echo "== figs run -> $RUN_DIR"
"$BUILD_DIR/figs" run --out "$RUN_DIR" "$@"
