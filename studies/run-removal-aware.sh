#!/usr/bin/env bash
# Study 1 of issue 20 (docs/results.md, "FiGS with the max rule and removal-aware accounting"):
# FiGS (search.group_rule = max, search.removal_aware = true) and MorphNet under the same
# accounting, at the study's 100k / 200k / 400k parameters, seeds 0-2, on the study's space and
# recipe. Resumable: rerun to continue.
#   bash studies/run-removal-aware.sh [FIGS]      (FIGS: the figs binary, default build/figs)
set -euo pipefail
cd "$(dirname "$0")/.."
figs=${1:-build/figs}
out=studies/fashion-mnist-removal-aware
if [[ -d $out ]]; then
  exec "$figs" sweep --resume "$out"
fi
exec "$figs" sweep --preset study --out "$out" --set 'sweep.methods=["figs","morphnet"]' \
  --set search.group_rule=max --set search.removal_aware=true
