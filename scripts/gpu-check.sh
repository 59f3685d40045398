#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: configure with CUDA, build the CUDA-relevant targets, run the
# CUDA tests (which skip nowhere here) and write their JSON report into OUT_DIR.
#   bash scripts/gpu-check.sh OUT_DIR
# Sized to finish in a few minutes on an H100 so a run and a rerun fit one GPU loan.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$OUT"
BUILD_DIR=${BUILD_DIR:-build-gpu}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFIGS_WITH_CUDA=ON \
  -DFIGS_BUILD_TESTS=ON -DFIGS_BUILD_BENCHMARKS=OFF 2>&1 | tail -n 3
cmake --build "$BUILD_DIR" -j "$(nproc)" --target test_cuda 2>&1 | tail -n 3
status=0
"$BUILD_DIR/tests/test_cuda" --gtest_output="json:$OUT/test_cuda.json" 2>&1 | tee "$OUT/test_cuda.log" || status=$?
grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" "$OUT/test_cuda.log" | sed 's/ ([0-9]* ms)//' || true
exit $status
