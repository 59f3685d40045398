#!/usr/bin/env bash
# A FiGS search + retrain on a second real dataset: the UCI handwritten digits (1,797 images),
# from the copy inside Debian's python3-sklearn package, converted to IDX by
# scripts/make_digits_idx.py and read through data.dataset=idx. The package is downloaded and
# unpacked into the data folder, not installed. Builds figs first (as scripts/main-job.sh does).
# The recipe is the main job's (500 search steps, 1,000 retrain steps): ~50 and ~100 epochs here.
#   bash scripts/digits-run.sh [RUN_DIR] [figs run options]
# Rerunning with the same RUN_DIR resumes it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DATA=${DIGITS_DIR:-data-cache/digits}
RUN_DIR=${1:-runs/digits}
shift $(( $# > 0 ? 1 : 0 ))
if [ ! -s "$DATA/test-labels-idx1-ubyte" ]; then
  mkdir -p "$DATA/deb"
  (cd "$DATA/deb" && apt-get download python3-sklearn)
  dpkg -x "$DATA"/deb/python3-sklearn_*.deb "$DATA/deb/x"
  python3 scripts/make_digits_idx.py "$(find "$DATA/deb/x" -name digits.csv.gz | head -1)" "$DATA"
  rm -rf "$DATA/deb"
fi
[ -x "$BUILD_DIR/figs" ] || { cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD_DIR" --target figs_app; }
if [ -f "$RUN_DIR/config.json" ]; then
  exec "$BUILD_DIR/figs" run --resume "$RUN_DIR"
fi
exec "$BUILD_DIR/figs" run --out "$RUN_DIR" --set data.dataset=idx \
  --set data.idx.train_images="$DATA/train-images-idx3-ubyte" --set data.idx.train_labels="$DATA/train-labels-idx1-ubyte" \
  --set data.idx.test_images="$DATA/test-images-idx3-ubyte" --set data.idx.test_labels="$DATA/test-labels-idx1-ubyte" "$@"
