#!/usr/bin/env bash
# The main job's search step, figs against PyTorch on the same machine, side by side (issue 17):
# figs bench (masked FiGS step with the expected-cost penalty, batch 128) and the independent
# PyTorch twin of the same supernet (../shared/bench/torch_figs_small28.py --phase masked) in
# NCHW and channels-last, interleaved for ROUNDS rounds, each at THREADS threads. Prints every
# measurement and the best-of-rounds ratios; writes the raw lines to OUT (optional).
#   bash benchmarks/compare_torch_step.sh [ROUNDS=2] [THREADS=2] [OUT]
# PYTHON selects the interpreter (default /usr/bin/python3: Debian's PyTorch 1.13, python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
THREADS=${2:-2}
OUT=${3:-/dev/null}
PYTHON=${PYTHON:-/usr/bin/python3}
TWIN=${TWIN:-../shared/bench/torch_figs_small28.py}
FIGS=${FIGS:-build/figs}
STEPS=20 WARMUP=3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PYTHON" -c "import torch" || { echo "no PyTorch for $PYTHON (Debian: apt install python3-torch)"; exit 1; }
: > "$OUT"
results=()
for round in $(seq "$ROUNDS"); do
  # The twin computes the spec's cost (the any group rule, every operator charged): so does figs here.
  "$FIGS" --threads "$THREADS" bench --batch 128 --steps $STEPS --warmup $WARMUP --stage search --json "$TMP/figs.json" \
    --set search.group_rule=any --set search.removal_aware=false > /dev/null 2>&1
  j=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["search"]["img_per_s"], d["search"]["peak_memory_mib"])' \
      "$TMP/figs.json")
  results+=("figs $j"); echo "round $round figs: $j" | tee -a "$OUT"
  for layout in "" "--channels-last"; do
    r=$("$PYTHON" "$TWIN" --threads "$THREADS" --batch 128 --steps $STEPS --warmup $WARMUP --phase masked $layout 2>/dev/null |
        grep '^RESULT' | tail -1 | sed 's/^RESULT //')
    name="torch$( [ -n "$layout" ] && echo -cl || echo -nchw)"
    v=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["img_per_s"], d["peak_rss_mib"])' "$r")
    results+=("$name $v"); echo "round $round $name: $v" | tee -a "$OUT"
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, collections
best = collections.defaultdict(lambda: (0.0, 0.0))
for line in sys.stdin:
    name, ips, mib = line.split()
    best[name] = max(best[name], (float(ips), float(mib)))
f = best["figs"][0]
for name, (ips, mib) in best.items():
    print(f"{name:12s} {ips:8.1f} img/s (best of rounds)  peak {mib:7.0f} MiB  figs/this = {f / ips:.2f}")
' | tee -a "$OUT"
