#!/usr/bin/env bash
# CTest fixture of the ONNX runtime checks (tests/CMakeLists.txt, onnx_*): a quick FiGS run on
# Fashion-MNIST, then `figs export` of its retrained network twice — batch 1 with BatchNormalization
# nodes, and a dynamic batch with the BatchNorms folded — plus the first 256 test images and
# figs's logits for them (--reference).
#   make_run.sh FIGS WORK_DIR
set -euo pipefail
FIGS=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
"$FIGS" run --quick --out "$WORK/run" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }
tail -1 "$WORK/run.log"
"$FIGS" export "$WORK/run" --onnx "$WORK/batch1.onnx" --reference 256
"$FIGS" export "$WORK/run" --onnx "$WORK/dynamic-folded.onnx" --batch dynamic --fold-bn
"$FIGS" export "$WORK/run" --onnx "$WORK/supernet.onnx" --supernet
