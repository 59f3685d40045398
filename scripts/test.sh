#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the build dependencies,
# configures a Release build (CUDA on when nvcc exists), builds, and runs every test with CTest.
#   bash scripts/test.sh            (BUILD_DIR=build by default; JOBS=<n> to override parallelism;
#                                    FIGS_SANITIZE=0 skips the sanitizer and fuzz runs)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
PACKAGES=(cmake ninja-build g++ libgtest-dev libbenchmark-dev
          libdnnl-dev ocl-icd-opencl-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libpng-dev libturbojpeg0-dev
          clang gnuplot-nox dataset-fashion-mnist
          libonnx-dev libprotobuf-dev python3-venv python3-opencv  # ONNX export + its runtime checks
          openmpi-bin libopenmpi-dev  # data-parallel runs under mpirun (tests/dist, cli_distributed)
          qemu-user)  # an emulated CPU without AVX2 (tests/cli/test_without_avx2.sh)

missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

echo "== configure ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFIGS_BUILD_TESTS=ON -DFIGS_BUILD_BENCHMARKS=ON
echo "== build"
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "== test"
# CTest runs two test programs at once, each with an OpenMP team: passive waiting keeps idle
# threads from spinning on cores the other program needs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
start=$(date +%s)
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900
echo "== all tests passed in $(( $(date +%s) - start )) s"

# The same suite under ASan + UBSan, and the parsers' fuzz targets (scripts/sanitize.sh: its own
# build folders, build-asan and build-fuzz). FIGS_SANITIZE=0 skips it for a quick local run.
if [ "${FIGS_SANITIZE:-1}" != 0 ]; then
  bash scripts/sanitize.sh
fi
