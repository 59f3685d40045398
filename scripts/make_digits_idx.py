#!/usr/bin/env python3
"""Writes the UCI optical-recognition handwritten digits as IDX files figs reads (data.dataset=idx).

The data: 1,797 digits of 8x8 pixels (counts 0..16 of 4x4 blocks of a 32x32 bitmap), the copy
Debian ships inside python3-sklearn (sklearn/datasets/data/digits.csv.gz: 64 pixels then the label
per row). The package need not be installed; scripts/real-data-run.sh extracts that one file.

To fit the 28x28 spaces unchanged, each image is enlarged 3x by pixel repetition to 24x24 and
centred with a 2-pixel border (as MNIST centres its digits in 28x28), and 0..16 maps to 0..255.
Split: every fifth image (index % 5 == 4) is the test set (359), the rest train (1,438); figs then
holds out data.val_fraction of train for validation.

Usage: make_digits_idx.py DIGITS_CSV_GZ OUT_DIR
"""
import gzip
import os
import struct
import sys

SCALE, BORDER, SIDE = 3, 2, 28


def enlarge(pixels):
    out = bytearray(SIDE * SIDE)
    for r in range(8):
        for c in range(8):
            v = (pixels[r * 8 + c] * 255 + 8) // 16
            for dr in range(SCALE):
                row = BORDER + r * SCALE + dr
                for dc in range(SCALE):
                    out[row * SIDE + BORDER + c * SCALE + dc] = v
    return bytes(out)


def write_idx(path, images, labels_path, labels):
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, len(images), SIDE, SIDE))
        for im in images:
            f.write(im)
    with open(labels_path, "wb") as f:
        f.write(struct.pack(">II", 0x00000801, len(labels)))
        f.write(bytes(labels))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    rows = []
    with gzip.open(src, "rt") as f:
        for n, line in enumerate(f, 1):
            values = [int(float(v)) for v in line.split(",")]
            if len(values) != 65 or not all(0 <= v <= 16 for v in values[:64]) or not 0 <= values[64] <= 9:
                sys.exit(f"{src}: line {n} is not 64 pixels in 0..16 and a label in 0..9")
            rows.append(values)
    if len(rows) != 1797:
        sys.exit(f"{src}: expected 1797 digits, found {len(rows)}")
    os.makedirs(out, exist_ok=True)
    split = {"train": [], "test": []}
    for i, values in enumerate(rows):
        split["test" if i % 5 == 4 else "train"].append(values)
    for name, part in split.items():
        write_idx(os.path.join(out, f"{name}-images-idx3-ubyte"), [enlarge(v[:64]) for v in part],
                  os.path.join(out, f"{name}-labels-idx1-ubyte"), [v[64] for v in part])
        print(f"{name}: {len(part)} images")


if __name__ == "__main__":
    main()
