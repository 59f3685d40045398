#!/usr/bin/env bash
# Issue 20's comparison at 100k / 200k / 400k (docs/results.md, "Cost accounting"): the budget
# width rule (the default since 2026-12-07), the floor rule and MorphNet of study 1, and random
# search and the width multiplier of the first study, from the committed results.csv files.
# Writes studies/issue20/compare.csv (mean and std of test accuracy per method and budget) and
# compare.png (gnuplot). Run from anywhere: bash studies/issue20/compare.sh
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import csv, statistics
sources = [  # (label, csv, method in it)
    ("FiGS (budget rule)", ["budget-rule/results.csv", "budget-rule-s12/results.csv",
                           "budget-rule-100k-200k/results.csv"], "figs"),
    ("FiGS (floor rule)", ["../fashion-mnist-removal-aware/results.csv"], "figs"),
    ("MorphNet", ["../fashion-mnist-removal-aware/results.csv"], "morphnet"),
    ("random search", ["../fashion-mnist/results.csv"], "random"),
    ("width multiplier", ["../fashion-mnist/results.csv"], "width"),
]
rows = []
for label, files, method in sources:
    runs = {}
    for f in files:
        for r in csv.DictReader(open(f)):
            if r["method"] == method:
                runs[r["run"]] = r  # study 1's file lists seed 0 twice: one entry per run
    for budget in (100000, 200000, 400000):
        acc = [100 * float(r["test_accuracy"]) for r in runs.values() if int(r["budget"]) == budget]
        params = [float(r["params"]) for r in runs.values() if int(r["budget"]) == budget]
        assert len(acc) == 3, (label, budget, len(acc))
        rows.append((label, budget, statistics.mean(params), statistics.mean(acc), statistics.stdev(acc)))
with open("compare.csv", "w") as f:
    f.write("method,budget,params_mean,test_accuracy_mean,test_accuracy_std\n")
    for r in rows:
        f.write(f"{r[0]},{r[1]},{r[2]:.0f},{r[3]:.3f},{r[4]:.3f}\n")
for r in rows:
    print(f"{r[0]:<18} {r[1]:>7} {r[3]:6.2f} +- {r[4]:.2f}")
PY
gnuplot <<'GP'
set terminal pngcairo size 900,600
set output "compare.png"
set datafile separator ","
set logscale x
set xrange [80000:500000]
set xlabel "exported parameters (mean over seeds)"
set ylabel "test accuracy % (mean over 3 seeds, bars: std)"
set key bottom right
set grid
methods = "'FiGS (budget rule)' 'FiGS (floor rule)' 'MorphNet' 'random search' 'width multiplier'"
plot for [i=1:5] "compare.csv" using (strcol(1) eq word(methods, i) ? $3 : NaN):4:5 with yerrorlines \
  title word(methods, i)
GP
echo "wrote compare.csv and compare.png"
