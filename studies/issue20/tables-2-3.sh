#!/usr/bin/env bash
# Tables and plots of issue 20's studies 2 (search length) and 3 (cost bias) from the committed
# results.csv files of their sweeps (studies/run-issue20.sh); docs/results.md quotes them.
#   search-length.csv / .png  test accuracy against search steps at 200k params (125, 250, 1,000
#                             from search-length/steps-N; 500 from budget-rule-100k-200k, the
#                             same engine and recipe)
#   cost-bias.csv / .png      the params cost against the MACs cost on One-Shot (200k params /
#                             20 M MACs) and FBNet small28 (150k / 8 M)
# A configuration with fewer than three finished runs is listed with what it has (column runs).
# Run from anywhere: bash studies/issue20/tables-2-3.sh
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import csv, os, statistics

def runs(path, budget):
    if not os.path.exists(path):
        return []
    return [r for r in csv.DictReader(open(path)) if r["method"] == "figs" and int(r["budget"]) == budget]

def stats(rs):
    acc = [100 * float(r["test_accuracy"]) for r in rs]
    mean = statistics.mean(acc) if acc else float("nan")
    std = statistics.stdev(acc) if len(acc) > 1 else float("nan")
    avg = lambda k: statistics.mean(float(r[k]) for r in rs) if rs else float("nan")
    return acc, mean, std, avg("params"), avg("macs")

def seeds(rs, acc):
    by_seed = {int(r["seed"]): a for r, a in zip(rs, acc)}
    return " / ".join(f"{by_seed[s]:.2f}" if s in by_seed else "-" for s in range(3))

with open("search-length.csv", "w") as f:
    # No search times: they were taken on machines and loads too different to compare.
    f.write("search_steps,runs,test_accuracy_seeds_0_1_2,test_accuracy_mean,test_accuracy_std,params_mean,macs_mean\n")
    for steps in (125, 250, 500, 1000):
        path = "budget-rule-100k-200k/results.csv" if steps == 500 else f"search-length/steps-{steps}/results.csv"
        rs = runs(path, 200000)
        acc, mean, std, params, macs = stats(rs)
        f.write(f"{steps},{len(rs)},{seeds(rs, acc)},{mean:.3f},{std:.3f},{params:.0f},{macs:.0f}\n")
        print(f"search steps {steps:>5}: {len(rs)} runs, {seeds(rs, acc)}, {mean:.2f} +- {std:.2f}, "
              f"{params / 1e3:.1f}k params, {macs / 1e6:.1f} M MACs")

cost_runs = {}
with open("cost-bias.csv", "w") as f:
    f.write("space,cost,budget,runs,test_accuracy_seeds_0_1_2,test_accuracy_mean,test_accuracy_std,params_mean,macs_mean\n")
    for space, cost, budget in (("oneshot", "params", 200000), ("oneshot", "macs", 20000000),
                                ("fbnet", "params", 150000), ("fbnet", "macs", 8000000)):
        rs = runs(f"cost-bias/{space}-{cost}/results.csv", budget)
        cost_runs[(space, cost)] = len(rs)
        acc, mean, std, params, macs = stats(rs)
        f.write(f"{space},{cost},{budget},{len(rs)},{seeds(rs, acc)},{mean:.3f},{std:.3f},{params:.0f},{macs:.0f}\n")
        print(f"{space:>7} {cost:>6} at {budget:>8}: {len(rs)} runs, {seeds(rs, acc)}, {mean:.2f} +- {std:.2f}, "
              f"{params / 1e3:.1f}k params, {macs / 1e6:.1f} M MACs")
# The plots, with the configurations that have runs (gnuplot stops at a curve with no points).
gp = ['set terminal pngcairo size 800,500', 'set datafile separator ","', 'set grid', 'set key off',
      'set output "search-length.png"', 'set logscale x 2', 'set xrange [100:1250]',
      'set xtics ("125" 125, "250" 250, "500" 500, "1,000" 1000)',
      'set xlabel "search steps (200k-parameter budget)"',
      'set ylabel "test accuracy % (mean over seeds, bars: std)"',
      'plot "search-length.csv" every ::1 using ($2 > 0 ? $1 : NaN):4:5 with yerrorlines pt 7']
curves = []
for i, (space, cost, label) in enumerate((("oneshot", "params", "One-Shot, params cost (200k)"),
                                          ("oneshot", "macs", "One-Shot, MACs cost (20 M)"),
                                          ("fbnet", "params", "FBNet small28, params cost (150k)"),
                                          ("fbnet", "macs", "FBNet small28, MACs cost (8 M)"))):
    if cost_runs[(space, cost)]:
        curves.append(f'"cost-bias.csv" every ::1 using (strcol(1) eq "{space}" && strcol(2) eq "{cost}" ? $9 / 1e6 : NaN)'
                      f':6:7 with yerrorbars pt {5 + 2 * i} title "{label}"')
if curves:
    gp += ['set output "cost-bias.png"', 'unset logscale x', 'set autoscale x', 'set key bottom right',
           'set xlabel "MACs per image, millions (mean over seeds)"', 'plot ' + ", ".join(curves)]
open("tables-2-3.gp", "w").write("\n".join(gp) + "\n")
PY
gnuplot tables-2-3.gp
rm tables-2-3.gp
echo "wrote search-length.{csv,png} and cost-bias.csv (and cost-bias.png once a configuration has runs)"
