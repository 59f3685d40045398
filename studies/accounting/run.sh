#!/usr/bin/env bash
# The accounting variants of FiGS on the study's space and recipe (docs/results.md, "Cost
# accounting"): the spec's group rule and accounting, the max rule, removal-aware accounting, and
# both; one FiGS search + retrain each at 100k parameters, seed 0. Resumable: rerun to continue.
#   bash studies/accounting/run.sh [FIGS]      (FIGS: the figs binary, default build/figs)
set -euo pipefail
cd "$(dirname "$0")/../.."
figs=${1:-build/figs}
out=studies/accounting
for variant in any-charged max-charged any-removal max-removal; do
  rule=${variant%%-*}
  removal=false; [[ $variant == *-removal ]] && removal=true
  dir=$out/$variant
  if [[ -f $dir/summary.md ]] && grep -q "| figs | 100000 | 1 |" "$dir/summary.md"; then continue; fi
  if [[ -d $dir ]]; then
    "$figs" sweep --resume "$dir"
  else
    "$figs" sweep --preset study --out "$dir" --set 'sweep.methods=["figs"]' --set 'sweep.budgets=[100000]' \
      --set 'sweep.seeds=[0]' --set search.group_rule="$rule" --set search.removal_aware=$removal
  fi
done
