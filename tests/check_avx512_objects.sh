#!/usr/bin/env bash
# The AVX-512 object files (cpu/fast/*_avx512.cpp) may define, as global symbols, only their
# entry points: a weak symbol there (an inline function or template instantiation such as
# std::vector<float>'s constructor) could be the copy the linker keeps for the whole library, and
# would then run AVX-512 instructions on CPUs without them (Note [What an AVX-512 file may
# contain], cpu/fast/depthwise_conv2d_weight_grad.h).
#   bash tests/check_avx512_objects.sh OBJECT...
set -uo pipefail
allowed='figs::cpu::fast::depthwise_weight_partial_avx512\('
fails=0
[ $# -gt 0 ] || { echo "FAIL: no object files given"; exit 1; }
for obj in "$@"; do
  [ -s "$obj" ] || { echo "FAIL: $obj missing"; fails=$((fails+1)); continue; }
  # nm's type letters: upper case = global (U = undefined, a reference, which is fine);
  # W/V/u = weak or unique, T/D/B/R = strong definitions.
  globals=$(nm -C --defined-only "$obj" | awk '$2 ~ /^[A-Z]$/ || $2 == "u" { $1 = ""; print }' | sed 's/^ //')
  # DW.ref.__gxx_personality_v0 (emitted where exceptions may unwind, e.g. under the
  # sanitizers) is a pointer to the C++ runtime's routine: data, the same in every file.
  entries=$(grep -cE "^T $allowed" <<<"$globals")
  others=$(grep -vE "^T $allowed" <<<"$globals" | grep -vE '^(V DW\.ref\.__gxx_personality_v0)?$')
  if [ -n "$others" ]; then
    echo "FAIL: $obj defines global symbols besides its entry points:"; echo "$others" | head -20
    fails=$((fails+1))
  elif [ "$entries" -lt 1 ]; then
    echo "FAIL: $obj defines no entry point (expected one matching $allowed)"; fails=$((fails+1))
  else
    echo "ok   $obj: $entries entry point(s), nothing else global"
  fi
done
exit $((fails > 0))
