#!/usr/bin/env bash
# End-to-end checks of the `figs` command on the synthetic dataset (no files needed):
# search -> export -> retrain -> results, and every bad-input case giving a one-line error,
# a non-zero exit code and nothing half-written.
#   bash tests/cli/test_cli.sh path/to/figs
set -uo pipefail
FIGS=${1:?usage: test_cli.sh path/to/figs}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
QUICK=(--quick --set data.dataset=synthetic --set search.max_steps=6 --set retrain.max_steps=6 --set data.workers=1)

check() {  # check NAME EXPECTED_TEXT CMD...: must fail (exit != 0) with EXPECTED_TEXT on stderr
  local name=$1 text=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL $name: exit $rc, expected an error mentioning '$text', got:"; echo "$out" | tail -3; fails=$((fails+1))
  else
    echo "ok   $name"
  fi
}

# The happy path: one run folder with everything in it.
if "$FIGS" run "${QUICK[@]}" --out "$TMP/run" > "$TMP/run.log" 2>&1; then
  for f in config.json search.csv search.jsonl search_layers.jsonl search.ckpt arch.json retrain.csv retrain.ckpt results.json; do
    [ -s "$TMP/run/$f" ] || { echo "FAIL run: $f missing"; fails=$((fails+1)); }
  done
  grep -q '"test_accuracy"' "$TMP/run/results.json" || { echo "FAIL run: no test_accuracy"; fails=$((fails+1)); }
  grep -q "figs run: oneshot/tiny28 on synthetic" "$TMP/run.log" || { echo "FAIL run: no summary line"; fails=$((fails+1)); }
  echo "ok   run"
else
  echo "FAIL run:"; tail -5 "$TMP/run.log"; fails=$((fails+1))
fi

# figs bench times every stage on synthetic data and writes their figures; inference is a
# forward without state, so its output (the sum of the logits) is the same every batch.
if "$FIGS" --threads 1 bench --set space.preset=tiny28 --batch 4 --warmup 1 --steps 2 --stage all \
     --json "$TMP/bench.json" > "$TMP/bench.log" 2>&1 &&
   python3 - "$TMP/bench.json" <<'PY'
import json, os, sys
b = json.load(open(sys.argv[1]))
assert b["omp_wait_policy"] == (os.environ.get("OMP_WAIT_POLICY") or "default"), b["omp_wait_policy"]
# The own kernels' widest build: AVX-512 exactly where the CPU reports avx512f, none without AVX2
# and FMA, unless capped (the kernel reads the same CPUID bits through __builtin_cpu_supports; the
# kernel flags list them).
flags = next((l.split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
widest = "avx512" if "avx512f" in flags else "avx2" if {"avx2", "fma"} <= set(flags) else "none"
assert b["cpu_vector_isa"] == (os.environ.get("FIGS_CPU_ISA") or widest), b["cpu_vector_isa"]
for stage in ("search", "retrain", "infer"):
    assert b[stage]["img_per_s"] > 0 and b[stage]["gflops"] > 0, stage
    assert "conv2d" in b[stage]["ops"], stage
assert b["infer"]["first_loss"] == b["infer"]["last_loss"], b["infer"]
assert b["search"]["first_loss"] != b["search"]["last_loss"], "the search step must learn"
PY
then
  echo "ok   bench"
else
  echo "FAIL bench:"; tail -5 "$TMP/bench.log"; fails=$((fails+1))
fi
check bench-unknown-stage "--stage: eval not in" "$FIGS" bench --stage eval
check bad-cpu-isa "FIGS_CPU_ISA=avx3: expected 'none', 'avx2' or 'avx512'" env FIGS_CPU_ISA=avx3 "$FIGS" run "${QUICK[@]}" --out "$TMP/bad-isa"
[ ! -e "$TMP/bad-isa" ] || { echo "FAIL bad-cpu-isa: it wrote $TMP/bad-isa"; fails=$((fails+1)); }

# The budget width rule: the export's threshold is chosen so that the network fits the target;
# arch.json's own count (what retrain builds) must be within it.
if "$FIGS" search "${QUICK[@]}" --set search.width_rule=budget --out "$TMP/budget-rule" > "$TMP/budget-rule.log" 2>&1 &&
   grep -q 'width rule "budget": the most probable channels that fit' "$TMP/budget-rule.log" &&
   python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert 0 < a["params"] <= 12000, a["params"]' \
     "$TMP/budget-rule/arch.json"; then
  echo "ok   budget width rule"
else
  echo "FAIL budget width rule:"; tail -3 "$TMP/budget-rule.log"; fails=$((fails+1))
fi
check budget-rule-needs-target "matches the export to search.target, which is 0" "$FIGS" search "${QUICK[@]}" \
  --set search.width_rule=budget --set search.target=0 --out "$TMP/bad8"
# "auto", the default, is the budget rule with a target and the floor rule without one (arch.json
# records which); the paper presets keep the spec's floor(sum p).
if "$FIGS" search "${QUICK[@]}" --out "$TMP/auto-rule" > "$TMP/auto-rule.log" 2>&1 &&
   "$FIGS" config | python3 -c 'import json,sys; assert json.load(sys.stdin)["search"]["width_rule"] == "auto"' &&
   "$FIGS" config --preset paper | python3 -c 'import json,sys; assert json.load(sys.stdin)["search"]["width_rule"] == "floor"' &&
   grep -q 'width rule "budget"' "$TMP/auto-rule.log" &&
   "$FIGS" search "${QUICK[@]}" --set search.width_rule=auto --set search.target=0 --out "$TMP/auto-rule-0" \
     > "$TMP/auto-rule-0.log" 2>&1 && ! grep -q 'width rule "budget"' "$TMP/auto-rule-0.log" &&
   python3 -c 'import json,sys; r=[json.load(open(f))["source"]["width_rule"] for f in sys.argv[1:]]; assert r == ["budget", "floor"], r' \
     "$TMP/auto-rule/arch.json" "$TMP/auto-rule-0/arch.json"; then
  echo "ok   auto width rule"
else
  echo "FAIL auto width rule:"; tail -3 "$TMP/auto-rule.log" "$TMP/auto-rule-0.log"; fails=$((fails+1))
fi

# retrain and info read the exported architecture.
if "$FIGS" retrain "$TMP/run/arch.json" "${QUICK[@]}" --out "$TMP/retrain" > /dev/null 2>&1 && [ -s "$TMP/retrain/results.json" ]; then
  echo "ok   retrain"
else
  echo "FAIL retrain"; fails=$((fails+1))
fi
"$FIGS" info "$TMP/run/arch.json" | grep -q "params" && echo "ok   info arch" || { echo "FAIL info arch"; fails=$((fails+1)); }
"$FIGS" info --space oneshot --preset tiny28 | grep -q "full-width network" && echo "ok   info space" || { echo "FAIL info space"; fails=$((fails+1)); }
"$FIGS" config --quick | grep -q '"preset": "tiny28"' && echo "ok   config" || { echo "FAIL config"; fails=$((fails+1)); }
"$FIGS" config --preset paper | grep -q '"adam_eps": 1.0' && echo "ok   config paper" || { echo "FAIL config paper"; fails=$((fails+1)); }
# The default's space option (stem_stride 2, for oneshot/small28) does not follow the user to
# another preset; the user's own options do.
space_of() { "$FIGS" config --set data.dataset=synthetic "$@" | python3 -c 'import json,sys; s=json.load(sys.stdin)["space"]; print(s["preset"], json.dumps(s["options"], sort_keys=True))'; }
if [ "$(space_of)" = 'small28 {"stem_stride": 2}' ] && [ "$(space_of --set space.preset=imagenet)" = 'imagenet {}' ] &&
   [ "$(space_of --set space.preset=imagenet --set space.options.width=4)" = 'imagenet {"width": 4}' ]; then
  echo "ok   config space options follow the preset"
else
  echo "FAIL config space options: '$(space_of --set space.preset=imagenet)'"; fails=$((fails+1))
fi

# eval reads the run's checkpoint and reproduces the test accuracy results.json recorded.
acc=$(sed -n 's/.*"test_accuracy": *\([0-9.e-]*\).*/\1/p' "$TMP/run/results.json")
if "$FIGS" eval "$TMP/run" 2>/dev/null | grep -q "test accuracy $(printf '%.4f' "$acc")"; then
  echo "ok   eval"
else
  echo "FAIL eval: expected test accuracy $acc"; "$FIGS" eval "$TMP/run" 2>&1 | tail -2; fails=$((fails+1))
fi

# Two checkpoints hold the same state: the same header but for the wall time they carry
# (elapsed_seconds), and the same data. Format: docs/nn.md, "Checkpoint format".
same_checkpoint() {
  local a=$1 b=$2 ha hb
  ha=$(od -An -t u8 -j16 -N8 "$a" | tr -d ' '); hb=$(od -An -t u8 -j16 -N8 "$b" | tr -d ' ')
  cmp -s <(head -c $((24 + ha)) "$a" | tail -c "$ha" | sed 's/"elapsed_seconds":[^,]*,//') \
         <(head -c $((24 + hb)) "$b" | tail -c "$hb" | sed 's/"elapsed_seconds":[^,]*,//') &&
  cmp -s <(tail -c +$(( (24 + ha + 63) / 64 * 64 + 1 )) "$a" | head -c -8) \
         <(tail -c +$(( (24 + hb + 63) / 64 * 64 + 1 )) "$b" | head -c -8)
}
elapsed_of() { grep -ao '"elapsed_seconds":[0-9.e+-]*' "$1" | head -1 | cut -d: -f2; }
without_speed() { sed -E 's/"images_per_s":[^,}]*,?//' "$1"; }

# Resume: a run stopped during the search, resumed, stopped during retraining, resumed again ends
# with the very same checkpoints (weights, optimizer state, budget controller), per-step logs and
# layer statistics as one that was never interrupted, and reports the time of both invocations.
RESUME=("${QUICK[@]}" --set search.max_steps=12 --set search.warmup_steps=3 --set retrain.max_steps=10
        --set search.checkpoint_every=5 --set retrain.checkpoint_every=5)
"$FIGS" run "${RESUME[@]}" --out "$TMP/straight" > /dev/null 2>&1
"$FIGS" --stop-after-step 7 run "${RESUME[@]}" --out "$TMP/stopped" > "$TMP/stop1.log" 2>&1; rc1=$?
first_part=$(elapsed_of "$TMP/stopped/search.ckpt")
"$FIGS" --stop-after-step 4 run --resume "$TMP/stopped" > "$TMP/stop2.log" 2>&1; rc2=$?
"$FIGS" run --resume "$TMP/stopped" > "$TMP/stop3.log" 2>&1; rc3=$?
if [ $rc1 -eq 130 ] && grep -q "stopped after search step 7" "$TMP/stop1.log" &&
   [ $rc2 -eq 130 ] && grep -q "resuming .* at step 7 of 12" "$TMP/stop2.log" &&
   grep -q "stopped after retrain step 4" "$TMP/stop2.log" &&
   [ $rc3 -eq 0 ] && grep -q "retrain: resuming .* at step 4 of 10" "$TMP/stop3.log" &&
   same_checkpoint "$TMP/straight/search.ckpt" "$TMP/stopped/search.ckpt" &&
   same_checkpoint "$TMP/straight/retrain.ckpt" "$TMP/stopped/retrain.ckpt" &&
   diff <(cut -d, -f1-9 "$TMP/straight/search.csv") <(cut -d, -f1-9 "$TMP/stopped/search.csv") > /dev/null &&
   diff <(cut -d, -f1-4 "$TMP/straight/retrain.csv") <(cut -d, -f1-4 "$TMP/stopped/retrain.csv") > /dev/null &&
   diff <(without_speed "$TMP/straight/search.jsonl") <(without_speed "$TMP/stopped/search.jsonl") > /dev/null &&
   [ "$(wc -l < "$TMP/stopped/search.jsonl")" -eq 12 ] &&
   cmp -s "$TMP/straight/search_layers.jsonl" "$TMP/stopped/search_layers.jsonl"; then
  echo "ok   resume"
else
  echo "FAIL resume: exit codes $rc1 $rc2 $rc3"; tail -n 2 "$TMP"/stop*.log; fails=$((fails+1))
fi
# The search's time is that of both invocations: at least what the first one had spent.
seconds=$(grep -o '"seconds": *[0-9.e+-]*' "$TMP/stopped/arch.json" | cut -d: -f2 | tr -d ' ')
if [ -n "$first_part" ] && [ -n "$seconds" ] && awk -v a="$seconds" -v b="$first_part" 'BEGIN { exit !(b > 0 && a >= b) }'; then
  echo "ok   resume keeps the time"
else
  echo "FAIL resume keeps the time: search took $seconds s in arch.json, the first part alone $first_part s"; fails=$((fails+1))
fi
# A run folder from before search.group_rule and search.removal_aware existed resumes with the
# accounting it ran with (the spec's), under its checkpoints' hash.
"$FIGS" --stop-after-step 7 run "${RESUME[@]}" --set search.group_rule=any --set search.removal_aware=false \
  --out "$TMP/legacy" > /dev/null 2>&1
sed -i '/"group_rule"\|"removal_aware"/d' "$TMP/legacy/config.json"
if ! grep -q '"group_rule"\|"removal_aware"' "$TMP/legacy/config.json" &&
   "$FIGS" run --resume "$TMP/legacy" > "$TMP/legacy.log" 2>&1 && grep -q "resuming .* at step 7 of 12" "$TMP/legacy.log"; then
  echo "ok   resume a run from before the accounting keys"
else
  echo "FAIL resume a run from before the accounting keys:"; tail -n 3 "$TMP/legacy.log"; fails=$((fails+1))
fi
check group-rule-choices "'search.group_rule' must be one of any, max" "$FIGS" search "${QUICK[@]}" --set search.group_rule=min --out "$TMP/bad-rule"
check resume-with-set "--resume continues with the run's own config.json" "$FIGS" run --resume "$TMP/stopped" --set seed=3
check resume-not-a-run "is not a run folder" "$FIGS" search --resume "$TMP"
mkdir -p "$TMP/bad-empty-run" && cp "$TMP/run/config.json" "$TMP/bad-empty-run/"
check eval-nothing-trained "holds no checkpoint" "$FIGS" eval "$TMP/bad-empty-run"

# A tiny sweep (all four methods, one budget, one seed): stopped during the first search,
# resumed, then resumed again when already finished (every run skipped). It leaves the tables and
# the plots.
SWEEP=("${QUICK[@]}" --set search.warmup_steps=2)
"$FIGS" --stop-after-step 3 sweep "${SWEEP[@]}" --out "$TMP/sweep" > "$TMP/sweep1.log" 2>&1; rc1=$?
"$FIGS" sweep --resume "$TMP/sweep" --report > "$TMP/report1.log" 2>&1 &&
  grep -q "0 of 4 runs finished" "$TMP/report1.log" && grep -q "not finished yet: figs-8000-s0, morphnet-8000-s0" "$TMP/report1.log" &&
  echo "ok   sweep report of a stopped sweep" || { echo "FAIL sweep report of a stopped sweep"; cat "$TMP/report1.log"; fails=$((fails+1)); }
# --threads is the one option a resume may change, also for a sweep with a run half done.
"$FIGS" sweep --resume "$TMP/sweep" --threads 1 > "$TMP/sweep2.log" 2>&1; rc2=$?
"$FIGS" sweep --resume "$TMP/sweep" > "$TMP/sweep3.log" 2>&1; rc3=$?
rows=$(($(wc -l < "$TMP/sweep/results.csv") - 1))
if [ $rc1 -eq 130 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ] && [ "$rows" -eq 4 ] &&
   grep -q "resuming figs-8000-s0" "$TMP/sweep2.log" &&
   grep -q "starting morphnet-8000-s0 (about [0-9]* min left at the pace of the 1 finished run)" "$TMP/sweep2.log" && [ "$(grep -c "finished earlier" "$TMP/sweep3.log")" -eq 4 ] &&
   grep -q "^width,0,8000," "$TMP/sweep/results.csv" && grep -q "^random,0,8000," "$TMP/sweep/results.csv" &&
   grep -q "^morphnet,0,8000," "$TMP/sweep/results.csv" && [ -s "$TMP/sweep/summary.csv" ]; then
  echo "ok   sweep"
else
  echo "FAIL sweep: exit codes $rc1 $rc2 $rc3, $rows rows"; tail -n 3 "$TMP"/sweep*.log; fails=$((fails+1))
fi
# The Markdown table has a row per (budget, method); the plot script draws every method from
# summary.csv, whether or not gnuplot is here to run it.
# The budget is met without a search long enough for any controller: by MorphNet's expand step
# (search.cpp) and by the width and random matching (nas/budget_match.h).
awk -F, '$1 != "method" && $1 != "figs" { n++; d = $5 / $3 - 1; if (d < -0.05 || d > 0.05) bad++ }
         END { exit !(n == 3 && bad == 0) }' "$TMP/sweep/results.csv" &&
  echo "ok   sweep morphnet, width and random land within 5% of the budget" ||
  { echo "FAIL sweep landing:"; cat "$TMP/sweep/results.csv"; fails=$((fails+1)); }
plotted=0
for m in figs morphnet width random; do grep -q "strcol(1) eq '$m'" "$TMP/sweep/pareto.gp" && plotted=$((plotted+1)); done
[ "$(grep -c '^| [a-z]* | 8000 | 1 |' "$TMP/sweep/summary.md")" -eq 4 ] && [ $plotted -eq 4 ] &&
  echo "ok   sweep summary.md and pareto.gp" || { echo "FAIL sweep summary.md or pareto.gp"; fails=$((fails+1)); }
if command -v gnuplot > /dev/null; then
  for f in pareto_params.png pareto_params.svg pareto_macs.png pareto_macs.svg; do
    [ -s "$TMP/sweep/$f" ] || { echo "FAIL sweep: $f missing"; fails=$((fails+1)); }
  done
  ls "$TMP"/sweep/*.tmp > /dev/null 2>&1 && { echo "FAIL sweep: gnuplot's temporary files left behind"; fails=$((fails+1)); }
fi
rm -f "$TMP/sweep/results.csv" "$TMP/sweep/summary.md"
"$FIGS" sweep --resume "$TMP/sweep" --report > "$TMP/report2.log" 2>&1 && grep -q "4 of 4 runs finished" "$TMP/report2.log" &&
  [ "$(wc -l < "$TMP/sweep/results.csv")" -eq 5 ] && [ -s "$TMP/sweep/summary.md" ] &&
  echo "ok   sweep report rewrites the tables" || { echo "FAIL sweep report"; cat "$TMP/report2.log"; fails=$((fails+1)); }
check sweep-report-needs-resume "--report needs --resume" "$FIGS" sweep --quick --report --out "$TMP/bad-sweep4"
check sweep-budget-too-large "is not below the supernet's" "$FIGS" sweep "${QUICK[@]}" --set 'sweep.budgets=[900000]' --out "$TMP/bad-sweep"
check sweep-budget-too-small "below what the width multiplier reaches" "$FIGS" sweep "${QUICK[@]}" --set 'sweep.budgets=[1000]' --out "$TMP/bad-sweep3"
check sweep-repeated-budget "sweep.budgets lists 8000 twice" "$FIGS" sweep "${QUICK[@]}" --set 'sweep.budgets=[8000,9000,8000]' --out "$TMP/bad-sweep5"
check sweep-random-unreachable "none of 200 random operator subsets" "$FIGS" sweep "${QUICK[@]}" --set 'sweep.budgets=[20400]' --out "$TMP/bad-sweep6"
check sweep-unknown-method 'unknown method "nas"' "$FIGS" sweep "${QUICK[@]}" --set 'sweep.methods=["nas"]' --out "$TMP/bad-sweep2"

# Bad input.
check unknown-preset "has no preset 'nope'" "$FIGS" run "${QUICK[@]}" --set space.preset=nope --out "$TMP/bad1"
check unknown-key "unknown key 'search.lamda'" "$FIGS" run "${QUICK[@]}" --set search.lamda=1 --out "$TMP/bad2"
check wrong-type "'search.lambda' expects a number" "$FIGS" run "${QUICK[@]}" --set search.lambda=abc --out "$TMP/bad3"
echo '{"search": {' > "$TMP/broken.json"
check malformed-config "not valid JSON" "$FIGS" run "${QUICK[@]}" --config "$TMP/broken.json" --out "$TMP/bad4"
echo '{"space.options": {"width": 8}}' > "$TMP/dotted.json"  # fuzz_config's finding: was accepted as a root key
check dotted-config-key "key 'space.options' contains a '.'" "$FIGS" run "${QUICK[@]}" --config "$TMP/dotted.json" --out "$TMP/bad4b"
check missing-dataset "/nonexistent" "$FIGS" run --quick --set data.dir=/nonexistent --out "$TMP/bad5"
check existing-run "already holds figs output" "$FIGS" run "${QUICK[@]}" --out "$TMP/run"
check unwritable-out "cannot create the folder '/proc/figs-run'" "$FIGS" run "${QUICK[@]}" --out /proc/figs-run
# --device cuda where it cannot run: an error naming why, before any folder exists. (`figs config`
# runs the same device check, so a machine where CUDA works skips this case.)
if "$FIGS" --device cuda config --quick > /dev/null 2>&1; then
  echo "skip cuda-unavailable: figs has CUDA and a GPU here"
else
  case "$("$FIGS" --help)" in *"cuda: yes"*) why="no CUDA device found" ;; *) why="this figs was built without CUDA" ;; esac
  check cuda-unavailable "device 'cuda': $why" "$FIGS" --device cuda run "${QUICK[@]}" --out "$TMP/bad6"
  [ ! -e "$TMP/bad6" ] && echo "ok   cuda-unavailable creates nothing" || { echo "FAIL cuda-unavailable created $TMP/bad6"; fails=$((fails+1)); }
fi
echo '{"format":"figs-architecture","version":1,"space":{"space":"oneshot","preset":"tiny28"},"widths":{"stem":99}}' > "$TMP/arch_bad.json"
check bad-arch "outside [0, 8]" "$FIGS" retrain "$TMP/arch_bad.json" "${QUICK[@]}" --out "$TMP/bad7"
[ ! -e "$TMP/bad1/arch.json" ] && [ ! -e "$TMP/bad-sweep" ] && [ ! -e "$TMP/bad-sweep5" ] && [ ! -e "$TMP/bad-sweep6" ] && [ ! -e "$TMP/bad-sweep3" ] && [ ! -e "$TMP/bad-sweep4" ] && [ ! -e "$TMP/bad5" ] && echo "ok   nothing half-written" || { echo "FAIL bad1 wrote arch.json"; fails=$((fails+1)); }

[ $fails -eq 0 ] && echo "all CLI checks passed" || echo "$fails CLI checks failed"
exit $fails
