#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: configure with CUDA, build the CUDA test and benchmark
# programs, run the CUDA tests (CUDA vs the CPU reference; none skip here), run
# compute-sanitizer (memcheck, racecheck) on a subset, time the kernels, and write everything
# into OUT_DIR; then run `figs run --quick` (synthetic data) with --device cuda and --device cpu
# and put their search losses side by side:
#   gpu.csv  test_cuda.json/.log  test_backend_ops.json/.log  memcheck.log  racecheck.log  bench_cuda.json/.log
#   quick-{cpu,cuda}.log  quick-{cpu,cuda}/ (csv + json of each run)  quick_cuda_vs_cpu.csv/.txt
#   quick-cuda-eval-{cuda,cpu}.log (figs eval of the GPU run on each device)
#   graph-{false,true}-{1,2}.json/.log (the main job's search step, eager and as a CUDA graph, interleaved)
#   speed/ (benchmarks/gpu_speed.sh: figs vs its PyTorch twin on the ImageNet supernets; speed.log)
#   bash scripts/gpu-check.sh OUT_DIR
# Sized so that a run and a rerun fit one GPU loan: on an H200 with 16 cores (2026-12-04) the
# whole script took 66-80 s, the build (the GPU's own architecture only) most of it; the speed
# comparison added on 2026-12-07 takes at most SPEED_BUDGET seconds more (default 300, not yet
# run on a GPU): run with SPEED_BUDGET=120 when the loan is short. The exit status is the tests' (then the
# sanitizers'); the quick-run comparison and the benchmark never fail it, they report.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$OUT"
BUILD_DIR=${BUILD_DIR:-build-gpu}
# Only the GPU's own architecture: half the nvcc time of the default sm_80 + sm_90.
CUDA_ARCH=${CUDA_ARCH:-native}
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"

# A GPU machine that cannot install packages (no network) and lacks oneDNN or TurboJPEG: bring
# Debian's .deb files in .gpudeps/ (made on a Debian 12 machine with
#   mkdir -p .gpudeps && cd .gpudeps && apt-get download libdnnl2 libdnnl-dev ocl-icd-libopencl1 \
#     ocl-icd-opencl-dev opencl-c-headers libturbojpeg0 libturbojpeg0-dev pkgconf pkg-config libpkgconf3
# and carried there). They are unpacked under /tmp, never into /, and found through the search paths.
if compgen -G ".gpudeps/*.deb" >/dev/null; then
  DEPS=/tmp/figs-gpudeps
  rm -rf "$DEPS" && mkdir -p "$DEPS"
  for deb in .gpudeps/*.deb; do dpkg -x "$deb" "$DEPS"; done
  LIBDIR=$DEPS/usr/lib/x86_64-linux-gnu
  # The .pc files name /usr; point them at the unpacked copy.
  sed -i "s|=/usr|=$DEPS/usr|" "$LIBDIR"/pkgconfig/*.pc
  export PATH="$DEPS/usr/bin:$PATH" LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PKG_CONFIG_PATH="$LIBDIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export CPATH="$DEPS/usr/include${CPATH:+:$CPATH}" LIBRARY_PATH="$LIBDIR${LIBRARY_PATH:+:$LIBRARY_PATH}"
  echo "using the packages unpacked from .gpudeps/ under $DEPS"
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFIGS_WITH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DFIGS_BUILD_TESTS=ON -DFIGS_BUILD_BENCHMARKS=ON 2>&1 | tail -n 3
cmake --build "$BUILD_DIR" -j "$(nproc)" --target test_cuda test_dist test_backend_ops bench_cuda_kernels figs_app 2>&1 | tail -n 3

status=0
echo "== tests"
"$BUILD_DIR/tests/test_cuda" --gtest_output="json:$OUT/test_cuda.json" 2>&1 | tee "$OUT/test_cuda.log" >/dev/null || status=$?
grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" "$OUT/test_cuda.log" | sed 's/ ([0-9]* ms)//' || true
# The op harness on the GPU: every case of the op table against the float64 reference.
"$BUILD_DIR/tests/test_backend_ops" --gtest_filter='Cuda/*' --gtest_output="json:$OUT/test_backend_ops.json" 2>&1 |
  tee "$OUT/test_backend_ops.log" >/dev/null || status=$?
grep -E "^\[ +(FAILED|PASSED) +\]" "$OUT/test_backend_ops.log" | sed 's/ ([0-9]* ms)//' || true
# Data parallel on the GPU: a 1-rank NCCL communicator (multi-GPU equality needs 2 GPUs).
"$BUILD_DIR/tests/test_dist" --gtest_output="json:$OUT/test_dist.json" 2>&1 | tee "$OUT/test_dist.log" >/dev/null || status=$?
grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" "$OUT/test_dist.log" | sed 's/ ([0-9]* ms)//' || true

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

# The figs command's trainers on the GPU (search with masks, export, retrain, eval) against the
# same quick run on the CPU, from the same seed, in strict float32 (tf32 off). The runs drift apart by float32 rounding
# (convolutions sum in another order), so the comparison is reported, not required to be equal.
echo "== figs run --quick: --device cuda vs --device cpu"
for dev in cpu cuda; do
  rm -rf "$BUILD_DIR/quick-$dev"
  rc=0
  timeout 240 "$BUILD_DIR/figs" --device "$dev" run --quick --set data.dataset=synthetic --set tf32=false \
    --out "$BUILD_DIR/quick-$dev" > "$OUT/quick-$dev.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || echo "figs run --device $dev: exit $rc (124 = timed out); see quick-$dev.log"
  tail -n 1 "$OUT/quick-$dev.log" || true
  mkdir -p "$OUT/quick-$dev"
  cp "$BUILD_DIR/quick-$dev"/*.csv "$BUILD_DIR/quick-$dev"/*.json "$OUT/quick-$dev/" 2>/dev/null || true
done
# figs eval of the GPU run: on its own device, and on the CPU (the checkpoint crosses devices).
for dev in cuda cpu; do
  "$BUILD_DIR/figs" --device "$dev" eval "$BUILD_DIR/quick-cuda" > "$OUT/quick-cuda-eval-$dev.log" 2>&1 ||
    echo "figs --device $dev eval of the cuda run failed; see quick-cuda-eval-$dev.log"
  tail -n 1 "$OUT/quick-cuda-eval-$dev.log" || true
done
python3 - "$OUT" <<'PY' || echo "quick-run comparison failed"
import csv, json, os, sys
out = sys.argv[1]
def rows(dev):
    path = os.path.join(out, f"quick-{dev}", "search.csv")
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []
cpu, gpu = rows("cpu"), rows("cuda")
cols = ["loss", "task_loss", "penalty", "expected_cost", "alive_channels"]
lines = []
with open(os.path.join(out, "quick_cuda_vs_cpu.csv"), "w") as f:
    f.write("step," + ",".join(f"{c}_cpu,{c}_cuda" for c in cols) + ",loss_diff\n")
    for a, b in zip(cpu, gpu):
        f.write(a["step"] + "," + ",".join(f"{a[c]},{b[c]}" for c in cols) +
                f",{float(b['loss']) - float(a['loss']):.3g}\n")
if not cpu or not gpu:
    lines.append(f"missing search.csv: cpu {len(cpu)} rows, cuda {len(gpu)} rows")
else:
    n = min(len(cpu), len(gpu))
    d = [abs(float(gpu[i]["loss"]) - float(cpu[i]["loss"])) / max(1.0, abs(float(cpu[i]["loss"]))) for i in range(n)]
    first = next((i + 1 for i, x in enumerate(d) if x > 1e-3), None)
    lines.append(f"search steps: cpu {len(cpu)}, cuda {len(gpu)}; max relative loss difference {max(d):.3g} "
                 f"(first step above 1e-3: {first}); step 1: {d[0]:.3g}")
    lines.append(f"final alive channels: cpu {cpu[n-1]['alive_channels']}, cuda {gpu[n-1]['alive_channels']}; "
                 f"final expected cost: cpu {cpu[n-1]['expected_cost']}, cuda {gpu[n-1]['expected_cost']}")
for dev in ("cpu", "cuda"):
    try:
        r = json.load(open(os.path.join(out, f"quick-{dev}", "results.json")))
        lines.append(f"{dev}: exported {r['params']} params, test accuracy {r['test_accuracy']:.4f}, "
                     f"retrain {r['images_per_s']:.0f} img/s")
    except (OSError, ValueError, KeyError) as e:
        lines.append(f"{dev}: no results.json ({e})")
open(os.path.join(out, "quick_cuda_vs_cpu.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

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

# The search step as a CUDA graph (nas/search.h, search.cuda_graph): the main job's supernet at
# batch 128, eager and replayed from the graph, side by side (the 28x28 search is launch-bound).
# test_cuda's CudaSearch.TheSearchStepAsACudaGraphEqualsTheEagerStep checks the results. Never fails the check.
echo "== figs bench --stage search: eager vs CUDA graph"
for run in false-1 true-1 true-2 false-2; do
  mode=${run%-*}
  "$BUILD_DIR/figs" --device cuda bench --stage search --warmup 3 --steps 30 --set search.cuda_graph=$mode \
    --json "$OUT/graph-$run.json" > "$OUT/graph-$run.log" 2>&1 || echo "figs bench (cuda_graph=$mode) failed; see graph-$run.log"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['search']; print(f'cuda_graph=$mode: {r[\"img_per_s\"]:.0f} img/s')" \
    "$OUT/graph-$run.json" || true
done

# ImageNet-scale speed against PyTorch (issue 23): figs bench on the three paper supernets beside
# their PyTorch twin, eager and torch.compile; the table is speed/gpu_speed.md. Never fails the check.
echo "== ImageNet supernets: figs vs PyTorch (benchmarks/gpu_speed.sh)"
FIGS="$BUILD_DIR/figs" BUDGET="${SPEED_BUDGET:-300}" bash benchmarks/gpu_speed.sh "$OUT/speed" > "$OUT/speed.log" 2>&1 ||
  echo "gpu_speed.sh failed (see speed.log)"
cat "$OUT/speed/gpu_speed.md" 2>/dev/null || tail -n 5 "$OUT/speed.log"
exit $status
