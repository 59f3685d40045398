#!/usr/bin/env bash
# Reliability of the `figs` command under bad input and faults (issue 21), through the public CLI
# only: divergence, settings checked before anything is created, damaged JSON files, a full disk,
# run-folder kinds and locks, Ctrl-C in eval. Every case must end in a one-line error (or the
# documented exit code), never an abort, a silent wrong result or lost output.
#   bash tests/cli/test_reliability.sh path/to/figs
set -uo pipefail
FIGS=${1:?usage: test_reliability.sh path/to/figs}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
fails=0
SYN=(--quick --set data.dataset=synthetic --set data.workers=1)
QUICK=("${SYN[@]}" --set search.max_steps=6 --set retrain.max_steps=6)

pass() { echo "ok   $1"; }
failed() { echo "FAIL $1"; shift; for line in "$@"; do echo "     $line"; done; fails=$((fails+1)); }

# expect NAME RC TEXT CMD...: exits with RC (exactly) and prints TEXT; never 134 (abort) or 139.
expect() {
  local name=$1 want_rc=$2 text=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want_rc" ] || ! grep -qF -- "$text" <<<"$out"; then
    failed "$name" "exit $rc (expected $want_rc), expected '$text', got:" "$(tail -3 <<<"$out")"
    return 1
  fi
  pass "$name"
}
absent() {  # absent NAME PATH...: none of the paths exists
  local name=$1; shift
  for p in "$@"; do [ ! -e "$p" ] || { failed "$name" "$p exists"; return 1; }; done
}
edit_json() {  # edit_json FILE PYTHON-EXPRESSION-ON-d
  /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $2; json.dump(d, open(sys.argv[1], 'w'))" "$1"
}

# A finished run that the damage cases below copy and edit.
"$FIGS" run "${QUICK[@]}" --out good > good.log 2>&1 || { echo "FAIL base run:"; tail -5 good.log; exit 1; }

# --- Divergence: stopped with the stage, the step and the first bad tensor; exit 3; no results.
expect "search diverges (lr 1e38)" 3 "search diverged at step" "$FIGS" search "${QUICK[@]}" --set search.lr=1e38 --out div_search
absent "search divergence writes no arch.json" div_search/arch.json
expect "retrain diverges (lr 1e12)" 3 "retrain diverged at step 2: " \
  "$FIGS" retrain good/arch.json "${QUICK[@]}" --set retrain.lr=1e12 --set retrain.checkpoint_every=1 --out div_retrain
absent "retrain divergence writes no results" div_retrain/results.json
expect "the message names the checkpoint kept" 3 "div_retrain/retrain.ckpt (step 1, before it) is kept" \
  "$FIGS" retrain --resume div_retrain
# The checkpoint kept is the last good one: it loads and evaluates.
expect "the kept checkpoint is the good one" 0 "retrained network (step 1)" "$FIGS" eval div_retrain
expect "run diverges in its search" 3 "nothing was exported" "$FIGS" run "${QUICK[@]}" --set search.lr=1e38 --out div_run
absent "run divergence writes no results" div_run/arch.json div_run/results.json
expect "exploding loss warns" 0 "warning: the loss at step 2" \
  "$FIGS" retrain good/arch.json "${QUICK[@]}" --set retrain.lr=1e6 --out explode

# --- Settings: every bad value fails before the run folder exists, naming the key.
bad_setting() {  # bad_setting TEXT ARGS...
  local text=$1; shift
  rm -rf never
  expect "refused: $*" 1 "$text" "$FIGS" run "${QUICK[@]}" "$@" --out never && absent "nothing created: $*" never
}
bad_setting "'retrain.schedule' must be one of constant, cosine, step, exponential" --set retrain.schedule=linear
bad_setting "'data.batch_size' must be an integer, got 12.5" --set data.batch_size=12.5
bad_setting "'space.options.width' must be an integer" --set space.options.width=7.5
bad_setting "'search.lr' must be > 0" --set search.lr=0
bad_setting "'data.val_fraction' must be in (0, 1)" --set data.val_fraction=0
bad_setting "'retrain.max_steps' and 'retrain.epochs' are both 0" --set retrain.max_steps=0 --set retrain.epochs=0
bad_setting "is below the smallest network" --set search.target=10
bad_setting "is not below the supernet's" --set search.target=1e9
bad_setting "--seed must be >= 0" --seed -3
bad_setting "--stop-after-step must be >= 1, got 0" --stop-after-step 0
bad_setting "'threads' must be at most 1024" --threads 100000
bad_setting "'search.lambda' expects a number" --set search.lambda=high
bad_setting "unknown key 'search.lamda'" --set search.lamda=2
bad_setting "the validation split is empty" --set data.train_limit=4
bad_setting "the data give image size = 32" --set data.dataset=synthetic --set data.synthetic.image_size=32 \
  --set space.options.image_size=28

# --- Damaged JSON files: one error naming the file and the key, exit 1, never an abort.
cp -r good dmg
cp good/arch.json arch_ok.json
edit_json dmg/arch.json "d['widths']['stem']='x'"
expect "arch.json: width of the wrong type" 1 "dmg/arch.json: 'widths.stem' must be an integer" "$FIGS" info dmg/arch.json
edit_json dmg/arch.json "d['widths']['stem']=3.5"
expect "arch.json: fractional width" 1 "'widths.stem' must be an integer, got 3.5" "$FIGS" info dmg/arch.json
edit_json dmg/arch.json "del d['widths']"
expect "arch.json: missing key" 1 "missing key 'widths'" "$FIGS" retrain dmg/arch.json "${QUICK[@]}" --out never2
absent "no folder for a bad arch" never2
cp arch_ok.json dmg/arch.json; edit_json dmg/arch.json "d['space']['colour']='red'"
expect "arch.json: unknown space field" 1 "unknown field 'colour'" "$FIGS" info dmg/arch.json
cp arch_ok.json dmg/arch.json; edit_json dmg/arch.json "d['source']['seconds']='slow'"
expect "arch.json: bad source on resume" 1 "dmg/arch.json: 'source.seconds' must be a number" "$FIGS" run --resume dmg
cp arch_ok.json dmg/arch.json; edit_json dmg/arch.json "d['params']=5; d['macs']=7"
# Counts come from the network the file describes, not from the file.
want_params=$(/usr/bin/python3 -c "import json; print(json.load(open('arch_ok.json'))['params'])")
expect "info recomputes params" 0 "dmg/arch.json: $want_params params" "$FIGS" info dmg/arch.json
expect "info warns about wrong counts" 0 "the file says 5 params and 7 MACs" "$FIGS" info dmg/arch.json
cp arch_ok.json dmg/arch.json
edit_json dmg/results.json "d['test_accuracy']='high'"
expect "results.json: wrong type" 1 "dmg/results.json: 'test_accuracy' must be a number" "$FIGS" run --resume dmg
cp good/results.json dmg/results.json; edit_json dmg/results.json "del d['params']"
expect "results.json: missing key" 1 "dmg/results.json: missing key 'params'" "$FIGS" run --resume dmg
cp good/results.json dmg/results.json
edit_json dmg/config.json "d['search']['lambda']='big'"
expect "config.json: wrong type (eval)" 1 "dmg/config.json: 'search.lambda' expects a number" "$FIGS" eval dmg
echo '{"search": ' > dmg/config.json
expect "config.json: not JSON (resume)" 1 "dmg/config.json: not valid JSON" "$FIGS" run --resume dmg
echo '[1, 2]' > dmg/config.json
expect "config.json: not an object" 1 "dmg/config.json: '<root>' must be an object" "$FIGS" eval dmg

# --- A full disk while logging: the run stops naming the file, exit 1, no results.
# RLIMIT_FSIZE makes writes past 8 KiB fail (EFBIG) like a full disk would (ENOSPC); SIGXFSZ is
# ignored so the write returns the error instead of killing the process.
(
  trap '' XFSZ
  ulimit -f 8
  expect "full disk while logging" 1 "writing the log 'full/search_layers.jsonl' failed" \
    "$FIGS" search "${SYN[@]}" --set search.max_steps=30 --set search.log_every=1 --set search.checkpoint_every=0 --out full
) || fails=$((fails+1))
absent "a failed log write exports nothing" full/arch.json

# --- Run folders: kinds, earlier results, locks.
mkdir old && echo '{"test_accuracy": 0.9}' > old/results.json
expect "a folder of earlier results is not overwritten" 1 "'old' already holds figs output (results.json)" \
  "$FIGS" run "${QUICK[@]}" --out old
grep -q 0.9 old/results.json && pass "earlier results kept" || failed "earlier results kept" "old/results.json changed"
expect "--out on a run suggests --resume" 1 "or continue it with figs run --resume good" "$FIGS" run "${QUICK[@]}" --out good
expect "sweep --resume refuses a run folder" 1 "this is a run folder, not a sweep folder" "$FIGS" sweep --resume good
expect "search --resume refuses a run folder" 1 "this is a run folder, not a search folder" "$FIGS" search --resume good
expect "eval refuses a study" 1 "is a study" bash -c "mkdir -p study/runs && cp good/config.json study/ && '$FIGS' eval study"
flock good/.figs.lock sleep 5 &
holder=$!
sleep 0.5
expect "a locked folder is refused" 1 "'good' is in use by another figs process" "$FIGS" run --resume good
kill $holder 2>/dev/null; wait $holder 2>/dev/null

# --- Ctrl-C in eval: stops between batches, exit 130, says it wrote nothing. Fashion-MNIST's
# 10,000 test images on one thread take seconds, so the signal always arrives mid-evaluation.
if "$FIGS" run --quick --set search.max_steps=2 --set retrain.max_steps=2 --set search.target=0 --set data.workers=1 \
     --out fm > fm.log 2>&1; then
  "$FIGS" eval fm --threads 1 > eval.log 2>&1 &
  pid=$!
  sleep 1
  kill -INT $pid
  wait $pid; rc=$?
  if [ $rc -eq 130 ] && grep -q "eval stopped (it writes nothing)" eval.log; then pass "Ctrl-C stops eval"; else
    failed "Ctrl-C stops eval" "exit $rc" "$(tail -2 eval.log)"; fi
else
  failed "Fashion-MNIST run for the eval case" "$(tail -3 fm.log)"
fi

if [ $fails -gt 0 ]; then echo "$fails reliability check(s) failed"; exit 1; fi
echo "all reliability checks passed"
