#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: configure with CUDA, build the CUDA test and benchmark
# programs, run the CUDA tests (CUDA vs the CPU reference; none skip here), run
# compute-sanitizer (memcheck, racecheck) on a subset, time the kernels, and write everything
# into OUT_DIR:
#   gpu.csv  test_cuda.json/.log  memcheck.log  racecheck.log  bench_cuda.json/.log
#   bash scripts/gpu-check.sh OUT_DIR
# Sized to finish in about 8 minutes on an H100 (build ~3-4 min on 16 cores for the GPU's own
# architecture only, tests < 1 min, sanitizers ~2 min, benchmark < 2 min) so a run and a rerun
# fit one GPU loan. The exit status is the tests' (then the sanitizers'); the benchmark never fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$OUT"
BUILD_DIR=${BUILD_DIR:-build-gpu}
# Only the GPU's own architecture: half the nvcc time of the default sm_80 + sm_90.
CUDA_ARCH=${CUDA_ARCH:-native}
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFIGS_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DFIGS_BUILD_TESTS=ON -DFIGS_BUILD_BENCHMARKS=ON 2>&1 | tail -n 3
cmake --build "$BUILD_DIR" -j "$(nproc)" --target test_cuda bench_cuda_kernels 2>&1 | tail -n 3

status=0
echo "== tests"
"$BUILD_DIR/tests/test_cuda" --gtest_output="json:$OUT/test_cuda.json" 2>&1 | tee "$OUT/test_cuda.log" >/dev/null || status=$?
grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" "$OUT/test_cuda.log" | sed 's/ ([0-9]* ms)//' || true

# The kernels with shared memory, reductions across blocks or gathers: out-of-bounds accesses
# (memcheck) and shared-memory hazards (racecheck). Small shapes, so the slowdown stays bounded.
SAN_FILTER='CudaKernels.ChannelScale*:CudaKernels.SumToAnyShape:CudaKernels.DepthwiseConvSpecialised:CudaKernels.MaxAndAvgPooling:CudaKernels.BatchNorm*:CudaKernels.LogSoftmaxAndCrossEntropy:CudaKernels.Binary*'
if [ -x "$SANITIZER" ]; then
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer --tool $tool"
    san=0
    timeout 150 "$SANITIZER" --tool "$tool" --error-exitcode 3 \
      "$BUILD_DIR/tests/test_cuda" --gtest_filter="$SAN_FILTER" > "$OUT/$tool.log" 2>&1 || san=$?
    tail -n 3 "$OUT/$tool.log"
    if [ "$san" -ne 0 ]; then
      echo "compute-sanitizer $tool: exit $san (124 = timed out)"
      [ "$status" -ne 0 ] || status=$san
    fi
  done
else
  echo "compute-sanitizer not found ($SANITIZER): sanitizer runs skipped"
fi

echo "== benchmark"
"$BUILD_DIR/benchmarks/bench_cuda_kernels" --benchmark_out="$OUT/bench_cuda.json" --benchmark_out_format=json \
  > "$OUT/bench_cuda.log" 2>&1 || echo "bench_cuda_kernels failed (see bench_cuda.log)"
python3 - "$OUT/bench_cuda.json" <<'PY' || true
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
print(f"{'kernel':<48} {'time us':>10} {'GB/s':>8}")
for r in runs:
    if r.get("error_occurred"):
        print(f"{r['name']:<48} skipped: {r.get('error_message', '')}")
        continue
    t = r["real_time"]  # microseconds (Unit set per benchmark)
    gbs = r.get("bytes_per_second", 0) / 1e9
    print(f"{r.get('label', r['name']):<48} {t:>10.1f} {gbs:>8.0f}")
PY
exit $status
