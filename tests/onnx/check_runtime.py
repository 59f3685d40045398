"""Runs an ONNX model that `figs export --reference N` wrote in an independent runtime and
compares its logits with figs's own (max abs difference, logits).

  python check_runtime.py ort|opencv MODEL.onnx [--ref STEM] [--batch N] [--tol 1e-4] [--data-dir DIR]

STEM.inputs.npy / .logits.npy / .labels.npy (STEM: the model's path without .onnx by default)
are what figs wrote; --batch is the model's batch size (0: dynamic, all images in one run). With
--data-dir, the inputs are also rebuilt from the raw Fashion-MNIST test images and the
normalisation the model's metadata states (figs.norm_mean / figs.norm_std), so the metadata is
checked too. Exit 0: within the tolerance; 1: not; 77: the runtime cannot be imported (skip).
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np

SKIP = 77


def load_runtime(name):
    try:
        if name == "ort":
            import onnxruntime
            return onnxruntime
        import cv2
        return cv2
    except ImportError as e:
        print(f"SKIP: the {name} runtime cannot be imported: {e}")
        sys.exit(SKIP)


def run_ort(ort, model, x, batch_fixed):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    if batch_fixed:  # a fixed-batch model takes one image per run
        return np.concatenate([sess.run(None, {inp: x[i:i + batch_fixed]})[0] for i in range(0, len(x), batch_fixed)])
    return sess.run(None, {inp: x})[0]


def run_opencv(cv2, model, x, batch_fixed):
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    step = batch_fixed or len(x)
    outs = []
    for i in range(0, len(x), step):
        net.setInput(np.ascontiguousarray(x[i:i + step]))
        outs.append(net.forward().reshape(len(x[i:i + step]), -1))
    return np.concatenate(outs)


def metadata(model):
    # The metadata_props, read with the onnx package where it exists (the ORT venv); OpenCV's
    # python has no ONNX reader, and the normalisation check runs with ORT.
    try:
        import onnx
    except ImportError:
        return None
    m = onnx.load(model)
    onnx.checker.check_model(m, full_check=True)
    print(f"onnx {onnx.__version__} checker (full_check): ok; opset {m.opset_import[0].version}, IR {m.ir_version}")
    return {p.key: p.value for p in m.metadata_props}, m


def idx_images(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runtime", choices=["ort", "opencv"])
    ap.add_argument("model")
    ap.add_argument("--ref")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--data-dir")
    a = ap.parse_args()
    rt = load_runtime(a.runtime)
    stem = a.ref or os.path.splitext(a.model)[0]
    x = np.load(stem + ".inputs.npy")
    want = np.load(stem + ".logits.npy")
    labels = np.load(stem + ".labels.npy")

    meta = metadata(a.model)
    batch_fixed = a.batch
    if meta is not None:
        props, m = meta
        dim0 = m.graph.input[0].type.tensor_type.shape.dim[0]
        declared = dim0.dim_value if dim0.HasField("dim_value") else 0
        if declared != a.batch:
            print(f"FAIL: the model's input batch is {declared or 'dynamic'}, expected {a.batch or 'dynamic'}")
            return 1
        if a.data_dir:
            files = [f for f in os.listdir(a.data_dir) if f.startswith("t10k-images")]
            raw = idx_images(os.path.join(a.data_dir, sorted(files)[0]))[: len(x)].astype(np.float32) / 255
            mean = np.array(json.loads(props["figs.norm_mean"]), np.float32).reshape(1, -1, 1, 1)
            std = np.array(json.loads(props["figs.norm_std"]), np.float32).reshape(1, -1, 1, 1)
            d = np.abs((raw - mean) / std - x).max()
            print(f"inputs rebuilt from {a.data_dir} with the metadata's normalisation: max abs diff {d:.3g}")
            if d > 1e-5:
                print("FAIL: the metadata's normalisation does not give the inputs figs used")
                return 1

    got = run_ort(rt, a.model, x, batch_fixed) if a.runtime == "ort" else run_opencv(rt, a.model, x, batch_fixed)
    diff = float(np.abs(got - want).max())
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    acc = float((got.argmax(1) == labels).mean())
    version = rt.__version__
    print(f"{a.runtime} {version}: {len(x)} test images, logits {tuple(got.shape)}: max abs diff vs figs {diff:.3g} "
          f"(tolerance {a.tol:g}); top-1 agreement {agree:.3f}; accuracy {acc:.3f}")
    if not diff <= a.tol:
        print("FAIL: outside the tolerance")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
