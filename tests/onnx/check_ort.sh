#!/usr/bin/env bash
# ONNX Runtime (PyPI onnxruntime, with the onnx package for its checker) in a venv under the
# build folder, created on first use: loads the models make_run.sh exported and compares their
# logits with figs's on 256 Fashion-MNIST test images (check_runtime.py). Exit 77 (CTest: skipped)
# only where the venv or the packages cannot be installed (no python3-venv, no network).
#   check_ort.sh WORK_DIR VENV_DIR
set -uo pipefail
WORK=$1
VENV=$2
HERE=$(cd "$(dirname "$0")" && pwd)
if ! "$VENV/bin/python" -c "import onnxruntime, onnx" 2>/dev/null; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" > "$WORK/venv.log" 2>&1; then
    echo "SKIP: python3 -m venv failed (install python3-venv):"; tail -3 "$WORK/venv.log"; exit 77
  fi
  if ! "$VENV/bin/pip" install --quiet onnxruntime onnx >> "$WORK/venv.log" 2>&1; then
    echo "SKIP: pip could not install onnxruntime and onnx (no network?):"; tail -3 "$WORK/venv.log"; exit 77
  fi
fi
set -e
"$VENV/bin/python" "$HERE/check_runtime.py" ort "$WORK/batch1.onnx" --batch 1 --data-dir /usr/share/datasets/fashion-mnist
"$VENV/bin/python" "$HERE/check_runtime.py" ort "$WORK/dynamic-folded.onnx" --ref "$WORK/batch1" --batch 0
# The supernet export is for inspection: the checker and a run (its logits are not figs's retrained ones).
"$VENV/bin/python" - "$WORK/supernet.onnx" <<'PY'
import sys, numpy as np, onnx, onnxruntime as ort
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
y = s.run(None, {s.get_inputs()[0].name: np.zeros((1, 1, 28, 28), np.float32)})[0]
assert y.shape == (1, 10) and np.isfinite(y).all(), y
print("supernet.onnx: checker ok, runs in onnxruntime", ort.__version__)
PY
