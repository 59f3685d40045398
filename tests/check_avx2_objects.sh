#!/usr/bin/env bash
# The AVX2 object files (cpu/fast/*.cpp, built with -mavx2 -mfma) may hold AVX instructions only
# in code that runs after cpu::fast::cpu_supported() said yes: their own kernels. Two things there
# would run on any CPU, and so must be free of AVX instructions:
#   - weak and unique symbols (an inline function or template instance, e.g. figs::str_cat<...>
#     when g++ does not inline it): the linker keeps one copy for the whole library, and the
#     baseline code calls whichever copy it kept;
#   - static initialisers (_GLOBAL__sub_I_*), which run when the library loads.
# And the CPU probes themselves (cpu_supported, avx512_supported) must not be defined here
# (docs/architecture.md, "Vector builds and the linker").
#   bash tests/check_avx2_objects.sh OBJECT...
set -uo pipefail
fails=0
[ $# -gt 0 ] || { echo "FAIL: no object files given"; exit 1; }
# The number of VEX/EVEX-encoded instructions (AVX, AVX2, FMA, AVX-512: every mnemonic starting
# with 'v', and AVX-512's mask-register 'k' ones) in symbol $2 of object $1.
vector_instructions() {
  objdump -d --no-show-raw-insn --disassemble="$2" "$1" 2>/dev/null |
    awk -F'\t' 'NF >= 2 { split($2, w, " "); print w[1] }' | grep -cE '^(v[a-z0-9]+|k[a-z]+[bwdq])$'
}
for obj in "$@"; do
  [ -s "$obj" ] || { echo "FAIL: $obj missing"; fails=$((fails+1)); continue; }
  bad=()
  # nm's type letters: W/V = weak, u = unique global; t = a local function (static initialisers).
  while read -r _ type sym; do
    case "$type" in
      W|V|u) ;;
      t) [[ "$sym" == _GLOBAL__sub_I_* ]] || continue ;;
      *) continue ;;
    esac
    n=$(vector_instructions "$obj" "$sym")
    [ "$n" -gt 0 ] && bad+=("$type $(c++filt "$sym" | cut -c1-160): $n vector instructions")
  done < <(nm --defined-only "$obj")
  probes=$(nm -C --defined-only "$obj" | grep -E ' T figs::cpu::fast::(cpu_supported|avx512_supported)\(\)')
  [ -n "$probes" ] && bad+=("defines a CPU probe, which runs before the CPU is known: $probes")
  if [ ${#bad[@]} -gt 0 ]; then
    echo "FAIL: $obj:"; printf '  %s\n' "${bad[@]}" | head -20
    fails=$((fails+1))
  else
    echo "ok   $obj: no shared or load-time code with AVX instructions"
  fi
done
exit $((fails > 0))
