#!/usr/bin/env bash
# figs on a CPU without AVX2. QEMU's user-mode emulator, as an Intel Nehalem (SSE4.2, no AVX),
# runs two search steps of the main job's supernet through `figs bench`; it stops the program on
# the first AVX instruction (SIGILL). The run must finish without any, say that no own CPU kernel
# ran, and compute the losses of this machine's native run (own kernels) within float tolerance:
# the first step's forward and, after one Adam update, the second's. FIGS_CPU_ISA=avx2 there must
# be refused before anything runs. Skips (exit 77) where qemu-x86_64 is missing (Debian:
# qemu-user; scripts/test.sh installs it).
#   bash tests/cli/test_without_avx2.sh path/to/figs
set -euo pipefail
figs=$1
command -v qemu-x86_64 >/dev/null || { echo "SKIP: qemu-x86_64 not installed (apt install qemu-user)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench=(--threads 1 bench --stage search --batch 4 --warmup 0 --steps 2)
old_cpu=(qemu-x86_64 -cpu Nehalem)

# The emulator refuses AVX on this model, or the test proves nothing.
cat > "$work/avx.c" <<'EOF'
int main(void) { __asm__ volatile("vzeroupper"); return 0; }
EOF
if cc "$work/avx.c" -o "$work/avx" 2>/dev/null; then
  # (through sh, whose report of the SIGILL goes to /dev/null)
  if sh -c '"$@"; exit $?' sh "${old_cpu[@]}" "$work/avx" 2>/dev/null; then
    echo "FAIL: qemu-x86_64 -cpu Nehalem ran an AVX instruction; it cannot stand for a CPU without AVX"; exit 1
  fi
fi

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
# The first forward differs only by summation order. The second follows one Adam update, whose
# first step is about lr * sign(gradient): a gradient near zero, summed in another order, can
# flip sign, so its tolerance is wider.
for key, tolerance in (("first_loss", 1e-5), ("last_loss", 1e-4)):
    a, b = native["search"][key], old["search"][key]
    assert abs(a - b) <= tolerance * abs(a), f"{key}: native {a} vs without AVX {b}"
    print(f"ok   {key}: native {a:.8f}, without AVX {b:.8f}")
EOF

echo "== FIGS_CPU_ISA=avx2 on the emulated CPU: refused"
if FIGS_CPU_ISA=avx2 "${old_cpu[@]}" "$figs" "${bench[@]}" --json "$work/refused.json" 2> "$work/refused.log" >/dev/null; then
  echo "FAIL: FIGS_CPU_ISA=avx2 was accepted on a CPU without AVX2"; exit 1
fi
grep -q "FIGS_CPU_ISA=avx2, but this CPU has no AVX2 and FMA" "$work/refused.log" ||
  { echo "FAIL: unexpected error:"; grep -v "TCG doesn't support" "$work/refused.log" | tail -5; exit 1; }
[ ! -e "$work/refused.json" ] || { echo "FAIL: the refused run wrote its JSON"; exit 1; }
echo "PASS: figs runs without AVX2, on the reference kernels and oneDNN, with the native losses"
