#!/usr/bin/env bash
# `figs export` on bad input: each case must fail with exit code 1, an error naming what is
# wrong, and write nothing. Uses the run of make_run.sh (copied, then broken).
#   bad_input.sh FIGS WORK_DIR
set -uo pipefail
FIGS=$1
WORK=$2
BAD=$WORK/bad
rm -rf "$BAD"
mkdir -p "$BAD"
failures=0

# expect_error NAME PATTERN OUTPUT -- figs args...: exit 1, stderr matching PATTERN, OUTPUT absent.
expect_error() {
  local name=$1 pattern=$2 out=$3
  shift 4
  "$FIGS" "$@" > "$BAD/$name.out" 2> "$BAD/$name.err"
  local rc=$?
  if [ $rc -ne 1 ] || ! grep -qE -e "$pattern" "$BAD/$name.err" || [ -e "$out" ] || ls "$(dirname "$out")"/*.tmp > /dev/null 2>&1; then
    echo "FAIL $name: exit $rc, stderr: $(cat "$BAD/$name.err")"
    [ -e "$out" ] && echo "  and $out was written"
    failures=$((failures + 1))
  else
    echo "ok   $name: $(cat "$BAD/$name.err")"
  fi
}

# A run folder whose retraining never happened (only the search's files).
cp -r "$WORK/run" "$BAD/searched"
rm -f "$BAD/searched/retrain.ckpt" "$BAD/searched/results.json" "$BAD/searched/retrain.csv"
expect_error no_retrain "holds no retrained network \(no retrain.ckpt\)" "$BAD/out1.onnx" -- export "$BAD/searched" --onnx "$BAD/out1.onnx"
# ... and without a search either, --supernet.
rm -f "$BAD/searched/search.ckpt"
expect_error no_search "holds no searched supernet \(no search.ckpt\)" "$BAD/out2.onnx" -- export "$BAD/searched" --onnx "$BAD/out2.onnx" --supernet
# A retraining that was stopped before it finished.
cp -r "$WORK/run" "$BAD/stopped"
rm -f "$BAD/stopped/results.json"
expect_error unfinished "has not finished \(no results.json\)" "$BAD/out3.onnx" -- export "$BAD/stopped" --onnx "$BAD/out3.onnx"
# A truncated checkpoint.
cp -r "$WORK/run" "$BAD/truncated"
size=$(stat -c %s "$BAD/truncated/retrain.ckpt")
truncate -s $((size / 2)) "$BAD/truncated/retrain.ckpt"
expect_error truncated "retrain.ckpt" "$BAD/out4.onnx" -- export "$BAD/truncated" --onnx "$BAD/out4.onnx"
# Outputs that cannot be written: a missing folder, a folder, a file where the folder should be.
expect_error missing_dir "folder '.*/no-such-dir' does not exist" "$BAD/no-such-dir/m.onnx" -- export "$WORK/run" --onnx "$BAD/no-such-dir/m.onnx"
mkdir -p "$BAD/a-folder.onnx"
expect_error is_dir "is a folder" "$BAD/a-folder.onnx/x" -- export "$WORK/run" --onnx "$BAD/a-folder.onnx"
expect_error file_as_dir "does not exist" "$WORK/run/config.json/m.onnx" -- export "$WORK/run" --onnx "$WORK/run/config.json/m.onnx"
if [ "$(id -u)" -ne 0 ]; then  # root may write anywhere
  mkdir -p "$BAD/readonly" && chmod 555 "$BAD/readonly"
  expect_error readonly "is not writable" "$BAD/readonly/m.onnx" -- export "$WORK/run" --onnx "$BAD/readonly/m.onnx"
  chmod 755 "$BAD/readonly"
fi
# Bad options.
expect_error bad_batch "--batch must be a batch size >= 1 or 'dynamic'" "$BAD/out5.onnx" -- export "$WORK/run" --onnx "$BAD/out5.onnx" --batch 0
expect_error not_a_run "config.json" "$BAD/out6.onnx" -- export "$BAD" --onnx "$BAD/out6.onnx"

if [ $failures -ne 0 ]; then
  echo "$failures bad-input case(s) failed"
  exit 1
fi
echo "all bad-input cases give a clear error and write nothing"
