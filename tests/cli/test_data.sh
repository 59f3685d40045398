#!/usr/bin/env bash
# Every dataset format figs reads, through `figs` (issue 16): ImageFolder JPEGs and CIFAR-10/100
# binaries written by make_image_data (Fashion-MNIST as 32x32 RGB where Debian's
# dataset-fashion-mnist is installed, synthetic images otherwise), IDX files, MNIST's layout,
# synthetic data of any shape; the space's input taken from the data; bad input (a folder without
# classes, an unreadable JPEG in the middle of an epoch, images of mixed sizes, data that do not
# fit the space); and the ImageNet presets (One-Shot, FBNet, ResNet-50) searching a few steps on a
# generated 224 px ImageFolder, stopped and resumed.
#   bash tests/cli/test_data.sh path/to/figs path/to/make_image_data
set -uo pipefail
FIGS=${1:?usage: test_data.sh path/to/figs path/to/make_image_data}
MAKE=${2:?usage: test_data.sh path/to/figs path/to/make_image_data}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
FASHION=/usr/share/datasets/fashion-mnist
SOURCE=(--source synthetic)
[ -f "$FASHION/train-images-idx3-ubyte.gz" ] && SOURCE=(--source fashion-mnist)
QUICK=(--quick --set search.max_steps=6 --set retrain.max_steps=6 --set data.workers=1 --set data.batch_size=32
       --set search.warmup_steps=2 --set search.target=0)

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; shift; for l in "$@"; do echo "     $l"; done; fails=$((fails+1)); }
check() {  # check NAME EXPECTED_TEXT CMD...: must fail (exit != 0) with EXPECTED_TEXT in its output
  local name=$1 text=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] || ! grep -qF -- "$text" <<<"$out"; then
    bad "$name" "exit $rc, expected an error mentioning '$text', got:" "$(tail -3 <<<"$out")"
  else
    ok "$name"
  fi
}
runs() {  # runs NAME LOG CMD...: must succeed
  local name=$1 log=$2; shift 2
  if "$@" > "$log" 2>&1; then ok "$name"; else bad "$name" "$(tail -5 "$log")"; fi
}

# Fixtures: 32x32 JPEGs (train/ and val/), the same images as CIFAR-10 and CIFAR-100 binaries.
"$MAKE" --format imagefolder --out "$TMP/if32" --size 32 --train 400 --test 100 "${SOURCE[@]}" || bad fixture-imagefolder
"$MAKE" --format cifar10 --out "$TMP/cifar10" --train 400 --test 100 "${SOURCE[@]}" || bad fixture-cifar10
"$MAKE" --format cifar100 --out "$TMP/cifar100" --train 400 --test 100 "${SOURCE[@]}" || bad fixture-cifar100

# ImageFolder end to end: search -> export -> retrain, the space's channels from the data (tiny28
# is 1x28x28; the folder is RGB, its side cut to the space's 28), then `figs eval` and, where figs
# has its ONNX exporter, `figs export`.
runs imagefolder-run "$TMP/if.log" "$FIGS" run "${QUICK[@]}" --set data.dataset=imagefolder --set data.dir="$TMP/if32" \
  --out "$TMP/run-if"
if [ -s "$TMP/run-if/results.json" ] && grep -q '"in_channels": 3' "$TMP/run-if/config.json" &&
   grep -q '"in_channels": 3' "$TMP/run-if/arch.json"; then ok imagefolder-space-from-data
else bad imagefolder-space-from-data "no results.json or in_channels 3 in config.json / arch.json"; fi
"$FIGS" eval "$TMP/run-if" > "$TMP/eval.log" 2>&1 && grep -q "test accuracy" "$TMP/eval.log" && ok imagefolder-eval ||
  bad imagefolder-eval "$(tail -2 "$TMP/eval.log")"
if "$FIGS" export "$TMP/run-if" --onnx "$TMP/if.onnx" > "$TMP/export.log" 2>&1; then
  [ -s "$TMP/if.onnx" ] && ok imagefolder-export || bad imagefolder-export "no ONNX file"
elif grep -q "without the ONNX exporter\|no exporter\|built without" "$TMP/export.log"; then
  echo "skip imagefolder-export ($(tail -1 "$TMP/export.log"))"
else
  bad imagefolder-export "$(tail -2 "$TMP/export.log")"
fi
# The same folder with the small-image transforms (pad-crop + flip).
runs imagefolder-pad-crop "$TMP/ifp.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=imagefolder \
  --set data.dir="$TMP/if32" --set data.augment=pad-crop --out "$TMP/search-ifp"

# CIFAR-10 end to end: the space's input becomes 3x32x32.
runs cifar10-run "$TMP/c10.log" "$FIGS" run "${QUICK[@]}" --set data.dataset=cifar10 --set data.dir="$TMP/cifar10" \
  --out "$TMP/run-c10"
grep -q '"image_size": 32' "$TMP/run-c10/config.json" 2>/dev/null && [ -s "$TMP/run-c10/arch.json" ] &&
  ok cifar10-space-from-data || bad cifar10-space-from-data "no image_size 32 in config.json"
# CIFAR-100: 100 fine classes, or 20 coarse ones.
runs cifar100-search "$TMP/c100.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=cifar100 \
  --set data.dir="$TMP/cifar100" --out "$TMP/search-c100"
grep -q '"num_classes": 100' "$TMP/search-c100/config.json" 2>/dev/null && ok cifar100-classes ||
  bad cifar100-classes "no num_classes 100"
runs cifar100-coarse "$TMP/c100c.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=cifar100 \
  --set data.dir="$TMP/cifar100" --set data.cifar100_coarse=true --out "$TMP/search-c100c"
grep -q '"num_classes": 20' "$TMP/search-c100c/config.json" 2>/dev/null && ok cifar100-coarse-classes ||
  bad cifar100-coarse-classes "no num_classes 20"

# IDX pairs and MNIST's layout (Debian's Fashion-MNIST files stand in for both).
if [ -f "$FASHION/train-images-idx3-ubyte.gz" ]; then
  runs idx-search "$TMP/idx.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=idx \
    --set data.idx.train_images="$FASHION/train-images-idx3-ubyte.gz" --set data.idx.train_labels="$FASHION/train-labels-idx1-ubyte.gz" \
    --set data.idx.test_images="$FASHION/t10k-images-idx3-ubyte.gz" --set data.idx.test_labels="$FASHION/t10k-labels-idx1-ubyte.gz" \
    --out "$TMP/search-idx"
  runs mnist-search "$TMP/mnist.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=mnist --set data.dir="$FASHION" \
    --out "$TMP/search-mnist"
else
  echo "skip idx, mnist ($FASHION not installed)"
fi
check idx-needs-files "data.idx.train_images' is empty" "$FIGS" search "${QUICK[@]}" --set data.dataset=idx --out "$TMP/bad-idx"

# Synthetic data of any shape; the space follows.
runs synthetic-shape "$TMP/syn.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=synthetic \
  --set data.synthetic.channels=3 --set data.synthetic.image_size=20 --set data.synthetic.classes=4 --out "$TMP/search-syn"
grep -q '"num_classes": 4' "$TMP/search-syn/config.json" 2>/dev/null && grep -q '"image_size": 20' "$TMP/search-syn/config.json" &&
  ok synthetic-space-from-data || bad synthetic-space-from-data "config.json lacks image_size 20 / num_classes 4"

# Bad input. A folder without class folders, before anything is created.
mkdir -p "$TMP/empty/train"
check imagefolder-no-classes "has no class sub-folders" "$FIGS" search "${QUICK[@]}" --set data.dataset=imagefolder \
  --set data.dir="$TMP/empty" --out "$TMP/bad-empty"
[ ! -e "$TMP/bad-empty" ] && ok imagefolder-no-classes-creates-nothing || bad imagefolder-no-classes-creates-nothing
# Data that do not fit the space: a size or class count the configuration sets explicitly.
check shape-mismatch "the data give image size = 32" "$FIGS" search "${QUICK[@]}" --set data.dataset=cifar10 \
  --set data.dir="$TMP/cifar10" --set space.options.image_size=28 --out "$TMP/bad-shape"
check classes-mismatch "space.options.num_classes is 10" "$FIGS" search "${QUICK[@]}" --set data.dataset=cifar100 \
  --set data.dir="$TMP/cifar100" --set space.options.num_classes=10 --out "$TMP/bad-classes"
[ ! -e "$TMP/bad-shape" ] && [ ! -e "$TMP/bad-classes" ] && ok mismatch-creates-nothing || bad mismatch-creates-nothing
# A retrain of an architecture whose space (3x28x28) differs from the data (3x32x32).
check retrain-mismatch "but space oneshot/tiny28 takes 3x28x28" "$FIGS" retrain "$TMP/run-if/arch.json" "${QUICK[@]}" \
  --set data.dataset=cifar10 --set data.dir="$TMP/cifar10" --out "$TMP/bad-retrain"
# val/ with other classes than train/.
cp -r "$TMP/if32" "$TMP/if-badval" && mv "$TMP/if-badval/val/class9" "$TMP/if-badval/val/other"
check val-classes "the class folders (and so the labels) must be the same" "$FIGS" search "${QUICK[@]}" \
  --set data.dataset=imagefolder --set data.dir="$TMP/if-badval" --out "$TMP/bad-val"
# An unreadable JPEG in the middle of an epoch is an error naming the file (exit 1); only the
# first image is read for the normalisation (data.stats_images=1), so the run starts.
cp -r "$TMP/if32" "$TMP/if-corrupt"
victim=$(ls "$TMP/if-corrupt/train/class9" | tail -1)
echo "not a JPEG" > "$TMP/if-corrupt/train/class9/$victim"
"$FIGS" search "${QUICK[@]}" --set data.dataset=imagefolder --set data.dir="$TMP/if-corrupt" --set data.stats_images=1 \
  --set search.max_steps=40 --set search.checkpoint_every=1 --out "$TMP/run-corrupt" > "$TMP/corrupt.log" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "class9/$victim.*undecodable image" "$TMP/corrupt.log" && [ -s "$TMP/run-corrupt/search.ckpt" ] &&
   [ ! -e "$TMP/run-corrupt/arch.json" ]; then ok corrupt-jpeg-mid-epoch
else bad corrupt-jpeg-mid-epoch "exit $rc" "$(tail -2 "$TMP/corrupt.log")"; fi
# Mixed sizes (every other image 40x48): resized and cropped like the rest.
"$MAKE" --format imagefolder --out "$TMP/mixed" --size 32 --train 200 --test 50 --mixed "${SOURCE[@]}" || bad fixture-mixed
runs mixed-sizes "$TMP/mixed.log" "$FIGS" search "${QUICK[@]}" --set data.dataset=imagefolder --set data.dir="$TMP/mixed" \
  --out "$TMP/search-mixed"

# The ImageNet presets on a generated 224 px ImageFolder (10 classes of synthetic JPEGs, some
# 280x336): a few search steps at batch 2 on a narrow supernet of each layout (the full widths
# take minutes per step on 2 cores), stopped after step 2 and resumed; the resumed checkpoint
# equals an uninterrupted run's (One-Shot).
"$MAKE" --format imagefolder --out "$TMP/in224" --source synthetic --size 224 --train 40 --test 20 --mixed || bad fixture-224
NET=(--set data.dataset=imagefolder --set data.dir="$TMP/in224" --set data.batch_size=2 --set data.workers=2
     --set search.max_steps=3 --set search.warmup_steps=1 --set search.target=0 --set search.checkpoint_every=0
     --set data.val_fraction=0.1 --set data.stats_images=8)
ONESHOT=(--set space.name=oneshot --set space.preset=imagenet --set 'space.options={"width":4}')
FBNET=(--set space.name=fbnet --set space.preset=imagenet
       --set 'space.options={"channels":[8,8,8,8,8,8,8],"head_channels":16,"stem_channels":8}')
RESNET=(--set space.name=resnet --set space.preset=resnet50 --set 'space.options={"widths":[4,8,8,8],"stem_channels":8}')
# Each runs with FIGS_CPU_ALLOCATOR=guard (cpu/allocator.h): an inaccessible page after every
# block, so a kernel that writes past a buffer faults here. This is how the FBNet layout's heap
# corruption was traced to oneDNN's strided 1x1 backward-weights (cpu/onednn/conv2d.cpp).
for preset in ONESHOT FBNET RESNET; do
  declare -n P=$preset
  name=$(tr 'A-Z' 'a-z' <<<"$preset")
  guard=(env FIGS_CPU_ALLOCATOR=guard)
  "${guard[@]}" "$FIGS" --stop-after-step 2 search --preset paper-$([ $preset = ONESHOT ] && echo oneshot || ([ $preset = FBNET ] && echo fbnet || echo resnet50)) \
    "${NET[@]}" "${P[@]}" --out "$TMP/s224-$name" > "$TMP/s224-$name.log" 2>&1; rc1=$?
  "${guard[@]}" "$FIGS" search --resume "$TMP/s224-$name" > "$TMP/s224-$name-2.log" 2>&1; rc2=$?
  if [ $rc1 -eq 130 ] && [ $rc2 -eq 0 ] && [ -s "$TMP/s224-$name/arch.json" ] && [ "$(tail -1 "$TMP/s224-$name/search.csv" | cut -d, -f1)" = 3 ]; then
    ok "imagenet-224-$name (stopped at 2, resumed to 3)"
  else
    bad "imagenet-224-$name" "exit codes $rc1 $rc2" "$(tail -2 "$TMP/s224-$name.log")" "$(tail -2 "$TMP/s224-$name-2.log")"
  fi
  unset -n P
done
"$FIGS" search --preset paper-oneshot "${NET[@]}" "${ONESHOT[@]}" --out "$TMP/s224-straight" > "$TMP/s224-straight.log" 2>&1
if cmp -s "$TMP/s224-straight/search.csv" "$TMP/s224-oneshot/search.csv" 2>/dev/null ||
   diff <(cut -d, -f1-9 "$TMP/s224-straight/search.csv") <(cut -d, -f1-9 "$TMP/s224-oneshot/search.csv") > /dev/null; then
  ok imagenet-224-resume-equals-straight
else
  bad imagenet-224-resume-equals-straight "search.csv differs (columns 1-9: step .. alive channels)"
fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
