#!/usr/bin/env bash
# OpenCV DNN (Debian python3-opencv, the system python) on the models make_run.sh exported:
# logits against figs's on 256 Fashion-MNIST test images. Exit 77 (CTest: skipped) only where
# cv2 cannot be imported.
#   check_opencv.sh WORK_DIR
set -euo pipefail
WORK=$1
HERE=$(cd "$(dirname "$0")" && pwd)
if ! /usr/bin/python3 -c "import cv2, numpy" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 cannot import cv2 (install python3-opencv)"; exit 77
fi
/usr/bin/python3 "$HERE/check_runtime.py" opencv "$WORK/batch1.onnx" --batch 1
/usr/bin/python3 "$HERE/check_runtime.py" opencv "$WORK/dynamic-folded.onnx" --ref "$WORK/batch1" --batch 0
