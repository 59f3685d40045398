#!/usr/bin/env bash
# The AVX2 object files (cpu/fast/*.cpp, built with -mavx2 -mfma) may hold instructions beyond
# baseline x86-64 only in code that runs after the backend asked the CPU: their own kernels. Two
# kinds of code there would run on any CPU, and so must hold none:
#   - COMDAT groups: the weak copies of inline functions and template instances (e.g.
#     figs::str_cat<...> when g++ does not inline it), with their cold parts and OpenMP bodies.
#     The linker keeps one copy of each for the whole library, and baseline code calls whichever
#     copy it kept;
#   - .text.startup: static initialisers, which run when the library loads.
# And the CPU probes themselves (cpu_supported, avx512_supported) must not be defined here
# (docs/architecture.md, "Vector builds and the linker"). As a control, the kernels' own code must
# show AVX instructions, or the check is not reading what it thinks it reads.
#   bash tests/check_avx2_objects.sh OBJECT...
set -uo pipefail
[ $# -gt 0 ] || { echo "FAIL: no object files given"; exit 1; }
# Instructions a CPU without AVX2 may lack: every VEX or EVEX instruction (AVX, AVX2, FMA, F16C and
# AVX-512 mnemonics start with 'v', AVX-512's mask instructions with 'k'), the VEX-encoded BMI1/2
# ones, and POPCNT, LZCNT, TZCNT and CRC32, which -mavx2's implied SSE4.2 and friends allow.
beyond_baseline='^(v[a-z0-9]+|k[a-z]+|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|popcnt|lzcnt|tzcnt|crc32[bwlq]?)$'
# Prints the mnemonic of every instruction in section $2 of object $1 (prefixes such as {vex},
# lock or rep skipped); fails if objdump does.
mnemonics() {
  local listing
  listing=$(objdump -d --no-show-raw-insn -j "$2" "$1") || return 1
  awk -F'\t' 'NF >= 2 {
    n = split($2, w, " "); i = 1
    while (i <= n && w[i] ~ /^(\{[a-z0-9]+\}|lock|rep|repz|repnz|repe|repne|notrack|bnd|data16|addr32|[c-gs]s|rex(\.[WRXB]+)?)$/) i++
    if (i <= n) print w[i]
  }' <<<"$listing"
}
fails=0
kernel_vector_instructions=0
for obj in "$@"; do
  [ -s "$obj" ] || { echo "FAIL: $obj missing"; fails=$((fails+1)); continue; }
  sections=$(readelf -SW "$obj") || { echo "FAIL: readelf cannot read $obj"; fails=$((fails+1)); continue; }
  if grep -q '\.gnu\.lto_' <<<"$sections"; then
    echo "FAIL: $obj holds LTO bytecode, not machine code: this check needs a build without -flto"
    fails=$((fails+1)); continue
  fi
  bad=()
  # readelf -SW rows: [Nr] Name Type Address Off Size ES Flg Lk Inf Al. Executable sections: X in
  # the flags; in a COMDAT group: G.
  while read -r name flags; do
    out=$(mnemonics "$obj" "$name") || { bad+=("objdump cannot disassemble $name"); continue; }
    n=$(grep -cE "$beyond_baseline" <<<"$out")
    if [ "$name" = .text ]; then
      kernel_vector_instructions=$((kernel_vector_instructions + n))
    elif [[ "$flags" == *G* || "$name" == .text.startup* ]] && [ "$n" -gt 0 ]; then
      first=$(grep -E "$beyond_baseline" <<<"$out" | sort | uniq -c | sort -rn | head -3 | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')
      symbol=$(grep -oE '_Z[A-Za-z0-9_]+' <<<"$name" | c++filt | cut -c1-120)
      bad+=("$name (${symbol:-no C++ name}): $n instructions beyond baseline: $first")
    fi
  done < <(sed -nE 's/^ *\[ *[0-9]+\] +([^ ]+) +PROGBITS +[0-9a-f]+ +[0-9a-f]+ +[0-9a-f]+ +[0-9a-f]+ +([A-Z]+) .*/\1 \2/p' <<<"$sections" |
           awk '$2 ~ /X/')
  probes=$(nm -C --defined-only "$obj" | grep -E ' T figs::cpu::fast::(cpu_supported|avx512_supported)\(\)')
  [ -n "$probes" ] && bad+=("defines a CPU probe, which runs before the CPU is known: $probes")
  if [ ${#bad[@]} -gt 0 ]; then
    echo "FAIL: $obj:"; printf '  %s\n' "${bad[@]}" | head -20
    fails=$((fails+1))
  else
    echo "ok   $obj: no shared or load-time code beyond baseline x86-64"
  fi
done
if [ "$kernel_vector_instructions" -eq 0 ]; then
  echo "FAIL: no AVX instruction found in the kernels' own code (.text): the objects are not AVX2 builds, or this check cannot read them"
  fails=$((fails+1))
else
  echo "control: the kernels' own code holds $kernel_vector_instructions AVX instructions"
fi
exit $((fails > 0))
