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
  for f in config.json search.csv search.jsonl search.ckpt arch.json retrain.csv retrain.ckpt results.json; do
    [ -s "$TMP/run/$f" ] || { echo "FAIL run: $f missing"; fails=$((fails+1)); }
  done
  grep -q '"test_accuracy"' "$TMP/run/results.json" || { echo "FAIL run: no test_accuracy"; fails=$((fails+1)); }
  grep -q "figs run: oneshot/tiny28 on synthetic" "$TMP/run.log" || { echo "FAIL run: no summary line"; fails=$((fails+1)); }
  echo "ok   run"
else
  echo "FAIL run:"; tail -5 "$TMP/run.log"; fails=$((fails+1))
fi

# retrain and info read the exported architecture.
if "$FIGS" retrain "$TMP/run/arch.json" "${QUICK[@]}" --out "$TMP/retrain" > /dev/null 2>&1 && [ -s "$TMP/retrain/results.json" ]; then
  echo "ok   retrain"
else
  echo "FAIL retrain"; fails=$((fails+1))
fi
"$FIGS" info "$TMP/run/arch.json" | grep -q "params" && echo "ok   info arch" || { echo "FAIL info arch"; fails=$((fails+1)); }
"$FIGS" info --space oneshot --preset tiny28 | grep -q "full-width network" && echo "ok   info space" || { echo "FAIL info space"; fails=$((fails+1)); }

# Bad input.
check unknown-preset "has no preset 'nope'" "$FIGS" run "${QUICK[@]}" --set space.preset=nope --out "$TMP/bad1"
check unknown-key "unknown key 'search.lamda'" "$FIGS" run "${QUICK[@]}" --set search.lamda=1 --out "$TMP/bad2"
check wrong-type "'search.lambda' expects a number" "$FIGS" run "${QUICK[@]}" --set search.lambda=abc --out "$TMP/bad3"
echo '{"search": {' > "$TMP/broken.json"
check malformed-config "not valid JSON" "$FIGS" run "${QUICK[@]}" --config "$TMP/broken.json" --out "$TMP/bad4"
check missing-dataset "/nonexistent" "$FIGS" run --quick --set data.dir=/nonexistent --out "$TMP/bad5"
check existing-run "already holds a run" "$FIGS" run "${QUICK[@]}" --out "$TMP/run"
check unwritable-out "cannot create run folder" "$FIGS" run "${QUICK[@]}" --out /proc/figs-run
check cuda "training on CUDA is not available yet" "$FIGS" --device cuda run "${QUICK[@]}" --out "$TMP/bad6"
echo '{"format":"figs-architecture","version":1,"space":{"space":"oneshot","preset":"tiny28"},"widths":{"stem":99}}' > "$TMP/arch_bad.json"
check bad-arch "outside [0, 8]" "$FIGS" retrain "$TMP/arch_bad.json" "${QUICK[@]}" --out "$TMP/bad7"
[ ! -e "$TMP/bad1/arch.json" ] && echo "ok   nothing half-written" || { echo "FAIL bad1 wrote arch.json"; fails=$((fails+1)); }

[ $fails -eq 0 ] && echo "all CLI checks passed" || echo "$fails CLI checks failed"
exit $fails
