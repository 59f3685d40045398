#!/usr/bin/env bash
# figs on a CPU without AVX2. QEMU's user-mode emulator, as an Intel Nehalem (SSE4.2, no AVX),
# runs two search steps, two retrain steps and the inference of the main job's supernet through
# `figs bench --stage all`; it stops the program on the first AVX instruction (SIGILL). The run
# must finish without any, say that no own CPU kernel ran, and compute the losses of this
# machine's native run (own kernels) within float tolerance (the search's first two steps, the
# retrain's first). FIGS_CPU_ISA=avx2 there must be refused before anything runs.
# Skips (exit 77) where qemu-x86_64 is missing (Debian: qemu-user; scripts/test.sh installs it).
#   bash tests/cli/test_without_avx2.sh path/to/figs
set -euo pipefail
figs=$1
unset FIGS_CPU_ISA FIGS_CPU_KERNELS  # both runs pick their kernels themselves
command -v qemu-x86_64 >/dev/null || { echo "SKIP: qemu-x86_64 not installed (apt install qemu-user)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench=(--threads 1 bench --stage all --batch 4 --warmup 0 --steps 2)
old_cpu=(qemu-x86_64 -cpu Nehalem)

# The emulator stops an AVX instruction on this model (SIGILL: exit status 128 + 4), or the test
# proves nothing.
cat > "$work/avx.cpp" <<'EOF'
int main() { __asm__ volatile("vzeroupper"); return 0; }
EOF
"${CXX:-c++}" "$work/avx.cpp" -o "$work/avx" || { echo "FAIL: cannot compile the AVX probe with ${CXX:-c++}"; exit 1; }
# (through sh, whose report of the SIGILL goes to /dev/null)
probe=0
sh -c '"$@"; exit $?' sh "${old_cpu[@]}" "$work/avx" 2>/dev/null || probe=$?
[ "$probe" -eq 132 ] ||
  { echo "FAIL: an AVX instruction under qemu-x86_64 -cpu Nehalem exited $probe, not 132 (SIGILL)"; exit 1; }

echo "== native run (own kernels)"
"$figs" "${bench[@]}" --json "$work/native.json" 2> "$work/native.log" >/dev/null
echo "== emulated Nehalem (no AVX)"
start=$(date +%s)
if ! "${old_cpu[@]}" "$figs" "${bench[@]}" --json "$work/nehalem.json" 2> "$work/nehalem.log" >/dev/null; then
  echo "FAIL: figs did not finish on the emulated CPU without AVX"; grep -v "TCG doesn't support" "$work/nehalem.log" | tail -20
  exit 1
fi
echo "   $(( $(date +%s) - start )) s"
grep -q "no own CPU kernels" "$work/nehalem.log" ||
  { echo "FAIL: the bench line does not say that no own CPU kernel ran:"; head -1 "$work/nehalem.log"; exit 1; }
python3 - "$work/native.json" "$work/nehalem.json" <<'EOF'
import json, sys
native, old = (json.load(open(p)) for p in sys.argv[1:3])
assert native["cpu_vector_isa"] in ("avx2", "avx512"), native["cpu_vector_isa"]
assert old["cpu_vector_isa"] == "none", old["cpu_vector_isa"]
# The first forward of each stage differs only by summation order. The second follows one Adam
# update, whose first step is about lr * sign(gradient): a gradient near zero, summed in another
# order, can flip sign. In the search (masks, a small learning rate) that stays within 1e-4; in
# the retrain (batch 4, a larger one) it moves the second loss by up to ~1.5% even between this
# machine's own and reference kernels (FIGS_CPU_KERNELS=reference, measured 2026-12-08), so there
# it only has to be finite.
import math
checks = [("search", "first_loss", 1e-5), ("search", "last_loss", 1e-4), ("retrain", "first_loss", 1e-5)]
for stage, key, tolerance in checks:
    a, b = native[stage][key], old[stage][key]
    assert abs(a - b) <= tolerance * abs(a), f"{stage} {key}: native {a} vs without AVX {b}"
    print(f"ok   {stage} {key}: native {a:.8f}, without AVX {b:.8f}")
assert math.isfinite(old["retrain"]["last_loss"]), old["retrain"]
assert old["infer"]["img_per_s"] > 0, old["infer"]
EOF

echo "== FIGS_CPU_ISA=avx2 on the emulated CPU: refused"
if FIGS_CPU_ISA=avx2 "${old_cpu[@]}" "$figs" "${bench[@]}" --json "$work/refused.json" 2> "$work/refused.log" >/dev/null; then
  echo "FAIL: FIGS_CPU_ISA=avx2 was accepted on a CPU without AVX2"; exit 1
fi
grep -q "FIGS_CPU_ISA=avx2, but this CPU has no AVX2 and FMA" "$work/refused.log" ||
  { echo "FAIL: unexpected error:"; grep -v "TCG doesn't support" "$work/refused.log" | tail -5; exit 1; }
[ ! -e "$work/refused.json" ] || { echo "FAIL: the refused run wrote its JSON"; exit 1; }
echo "PASS: figs runs without AVX2, on the reference kernels and oneDNN, with the native losses"
