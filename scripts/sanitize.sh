#!/usr/bin/env bash
# 1. The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer).
# 2. The libFuzzer targets of tests/fuzz, each for a bounded time from its committed seeds.
# scripts/test.sh calls it after the Release tests (FIGS_SANITIZE=0 skips it there); it can also
# run alone:
#   bash scripts/sanitize.sh   (ASAN_BUILD_DIR=build-asan, FUZZ_BUILD_DIR=build-fuzz; JOBS=<n>;
#                               FIGS_FUZZ=0 skips part 2)
# The build is the project's compiler (g++) at -O1 with debug info, CUDA and benchmarks off,
# oneDNN on (the Release configuration's CPU path: oneDNN's JIT code is not instrumented, so
# ASan cannot see inside it, but every buffer we hand it is ours and is checked where we touch
# it), and libstdc++'s own bounds checks (_GLIBCXX_ASSERTIONS; no ABI change).
# Every sanitizer report is fatal: UBSan does not recover (-fno-sanitize-recover), ASan halts.
# docs/architecture.md, "Sanitizers and fuzzers", has the decisions and the last measured run.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
FUZZ_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}

# clang's libFuzzer / sanitizer runtimes and OpenMP for part 2 (Debian 12 only recommends them).
missing=()
for p in clang libclang-rt-14-dev libomp-14-dev; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] && [ "${FIGS_FUZZ:-1}" != 0 ]; then
  echo "== sanitize: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
flags+=" -D_GLIBCXX_ASSERTIONS"

start=$(date +%s)
echo "== sanitize: configure ($BUILD_DIR)"
# RelWithDebInfo with its flags replaced: the flags above are the whole optimisation story
# (the default -O2 -DNDEBUG would come after them; the project has no assert() to keep).
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DFIGS_WITH_CUDA=OFF -DFIGS_WITH_ONEDNN=ON -DFIGS_BUILD_TESTS=ON -DFIGS_BUILD_BENCHMARKS=OFF
echo "== sanitize: build"
cmake --build "$BUILD_DIR" -j "$JOBS"
built=$(date +%s)

echo "== sanitize: test"
# halt_on_error: the first report ends the program (and fails its test). detect_leaks: LSan
# works here (it needs ptrace-free stop-the-world; it does not run under a debugger or strace).
# check_initialization_order: the backends register themselves from static constructors.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:check_initialization_order=1:abort_on_error=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# Left out, with the reason:
#  - fuzz: the libFuzzer targets are their own clang build with ASan + UBSan already
#    (tests/fuzz); running them here would only repeat that.
#  - install_consumer: it builds tests/consumer without sanitizer flags against the installed,
#    instrumented libfigs.so; ASan refuses a program whose first library is not its runtime.
#    It tests packaging, which the Release run covers; install_example likewise.
#  - cli_data and the onnx_* runtime checks: 224 px searches and a quick run with the runtimes,
#    minutes each in Release and several times that instrumented; they run in the Release suite,
#    and the code they reach is under ASan here through the unit tests and the other CLI tests.
#    (CI's 90 minutes: the instrumented build and these tests are the largest part.)
#  - dist_mpi_2_ranks and cli_distributed: runs under mpirun, not yet tried instrumented (Open
#    MPI's own libraries are not built with ASan); the single-process data-parallel tests
#    (DataParallel.*) and the code they reach run here.
#  - cli_without_avx2: figs under QEMU's user-mode emulator, not tried instrumented (ASan maps
#    its shadow memory at fixed addresses, which the emulator's own layout may not leave free);
#    the reference kernels it runs on are under ASan here through the unit tests
#    (tests/backend_ops and the gradient checks).
#  - cpu_avx2_objects_share_no_vector_code: a property of the optimised library that users run
#    (tests/check_avx2_objects.sh). At -O1 g++ leaves more templates out of line, and an
#    instrumented build runs only on the machine that built it.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 1800 \
  -LE fuzz -E '^(install_consumer|install_example|cli_data|onnx_.*|dist_mpi_2_ranks|cli_distributed|cli_without_avx2|cpu_avx2_objects_share_no_vector_code)$'
end=$(date +%s)
echo "== sanitize: the suite ran clean under ASan + UBSan: build $(( built - start )) s, tests $(( end - built )) s"

[ "${FIGS_FUZZ:-1}" = 0 ] && exit 0
echo "== fuzz: configure ($FUZZ_DIR, clang++)"
# The library without oneDNN (its JIT code is outside what the parsers reach) and without CUDA;
# FIGS_BUILD_FUZZERS instruments everything (coverage, ASan, UBSan) and adds tests/fuzz.
cmake -S . -B "$FUZZ_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DFIGS_BUILD_FUZZERS=ON -DFIGS_BUILD_TESTS=OFF \
  -DFIGS_BUILD_BENCHMARKS=OFF -DFIGS_WITH_CUDA=OFF -DFIGS_WITH_ONEDNN=OFF
echo "== fuzz: build"
cmake --build "$FUZZ_DIR" --target fuzzers -j "$JOBS"
fuzz_built=$(date +%s)
echo "== fuzz: run (each target for a bounded time; a crashing input stays in $FUZZ_DIR/tests/fuzz/run/<target>)"
# One target at a time: each is a single process, and the two cores go to it.
ctest --test-dir "$FUZZ_DIR" --output-on-failure -j 1 -L fuzz
fuzz_end=$(date +%s)
echo "== fuzz: every target ran clean: build $(( fuzz_built - end )) s, runs $(( fuzz_end - fuzz_built )) s"
echo "== sanitize + fuzz: $(( fuzz_end - start )) s in all"
