#!/usr/bin/env python3
"""Times figs' CPU kernels and PyTorch's at the same shapes, and prints the ratio.

    /usr/bin/python3 benchmarks/compare_pytorch.py [--bench build/benchmarks/bench_cpu_kernels]
                                                   [--filter REGEX] [--json out.json]

It runs bench_cpu_kernels (Google Benchmark, JSON output), reads each benchmark's shape back from
its name, times the same operation in PyTorch in NCHW and in channels_last with the same thread
count, and prints per op: figs time, PyTorch's two times, and speedup = (faster PyTorch layout) /
figs (> 1: figs is faster). Uses Debian's python3-torch (run with /usr/bin/python3); installs
nothing, and says so and exits 2 when PyTorch is missing.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("compare_pytorch.py: PyTorch is not available to this interpreter "
          f"({sys.executable}); install Debian's python3-torch and run with /usr/bin/python3.",
          file=sys.stderr)
    sys.exit(2)


def median_time(fn, min_seconds=0.2, repeats=5):
    """Median over `repeats` runs of the mean time of fn, each run lasting >= min_seconds / repeats."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / repeats:
                break
        samples.append(elapsed / n)
    return statistics.median(samples)


def conv_case(args, which, fmt):
    n, c, h, k, s, g = args["N"], args["C"], args["H"], args["K"], args["S"], args["G"]
    groups = c if g == 0 else 1
    pad = k // 2
    x = torch.rand(n, c, h, h).contiguous(memory_format=fmt)
    w = torch.rand(c, 1 if g == 0 else c, k, k)
    y = F.conv2d(x, w, None, s, pad, 1, groups)
    gy = torch.rand_like(y).contiguous(memory_format=fmt)
    if which == "fwd":
        return lambda: F.conv2d(x, w, None, s, pad, 1, groups)
    mask = [True, False, False] if which == "bwd_data" else [False, True, False]
    return lambda: torch.ops.aten.convolution_backward(gy, x, w, None, [s, s], [pad, pad], [1, 1], False,
                                                       [0, 0], groups, mask)


def batch_norm_case(args, fmt):
    n, c, h = args["N"], args["C"], args["H"]
    x = torch.rand(n, c, h, h).contiguous(memory_format=fmt)
    gy = torch.rand(n, c, h, h).contiguous(memory_format=fmt)
    gamma, beta, rm, rv = torch.ones(c), torch.zeros(c), torch.zeros(c), torch.ones(c)

    def step():
        y, mean, invstd = torch.ops.aten.native_batch_norm(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
        return torch.ops.aten.native_batch_norm_backward(gy, x, gamma, rm, rv, mean, invstd, True, 1e-5,
                                                         [True, True, True])
    return step


def mask_case(args, fmt):
    n, c, h = args["N"], args["C"], args["H"]
    x = torch.rand(n, c, h, h).contiguous(memory_format=fmt)
    gy = torch.rand(n, c, h, h).contiguous(memory_format=fmt)
    m = torch.rand(1, c, 1, 1)

    def step():
        y = x * m
        gx = gy * m
        gm = (gy * x).sum((0, 2, 3))
        return y, gx, gm
    return step


def separable_block_case(args, fmt):
    n, c, h = args["N"], args["C"], args["H"]
    x = torch.rand(n, c, h, h).contiguous(memory_format=fmt)
    layers = []
    for _ in range(2):
        layers += [torch.nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU(),
                   torch.nn.Conv2d(c, c, 1, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU()]
    block = torch.nn.Sequential(*layers).to(memory_format=fmt)

    def step():
        block.zero_grad(set_to_none=True)
        block(x).mean().backward()
    return step


def torch_case(name, args, fmt):
    if name == "BM_separable_block":
        return separable_block_case(args, fmt)
    if name.startswith("BM_conv_"):
        return conv_case(args, name[len("BM_conv_"):], fmt)
    if name == "BM_batch_norm":
        return batch_norm_case(args, fmt)
    if name == "BM_mask_scale":
        return mask_case(args, fmt)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="build/benchmarks/bench_cpu_kernels")
    ap.add_argument("--filter", default="", help="regex passed to --benchmark_filter")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--min-time", type=float, default=0.2)
    opts = ap.parse_args()
    if not os.path.exists(opts.bench):
        sys.exit(f"compare_pytorch.py: {opts.bench} not found; build it first (cmake --build build)")

    cmd = [opts.bench, "--benchmark_format=json", f"--benchmark_min_time={opts.min_time}"]
    if opts.filter:
        cmd.append(f"--benchmark_filter={opts.filter}")
    figs = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    threads = int(figs["context"].get("threads", "1"))
    torch.set_num_threads(threads)
    print(f"# {figs['context'].get('figs', 'figs')}, {threads} threads; "
          f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")

    rows = []
    header = f"{'op':<20} {'shape':<34} {'figs impl':<26} {'figs us':>9} {'torch nchw':>11} {'torch cl':>9} {'speedup':>8}"
    print(header)
    print("-" * len(header))
    for b in figs["benchmarks"]:
        parts = b["name"].split("/")
        name, args = parts[0], dict((kv.split(":")[0], int(kv.split(":")[1])) for kv in parts[1:] if ":" in kv)
        fmts = {"nchw": torch.contiguous_format, "cl": torch.channels_last}
        times = {}
        for key, fmt in fmts.items():
            case = torch_case(name, args, fmt)
            if case is None:
                break
            times[key] = median_time(case, opts.min_time)
        if not times:
            continue
        figs_us = b["real_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        best = min(times.values()) * 1e6
        shape = "/".join(parts[1:])
        row = dict(op=name[3:], shape=shape, figs_impl=b.get("label", ""), figs_us=figs_us,
                   torch_nchw_us=times["nchw"] * 1e6, torch_cl_us=times["cl"] * 1e6, speedup=best / figs_us)
        rows.append(row)
        print(f"{row['op']:<20} {shape:<34} {row['figs_impl']:<26} {figs_us:9.1f} {row['torch_nchw_us']:11.1f} "
              f"{row['torch_cl_us']:9.1f} {row['speedup']:8.2f}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(dict(context=figs["context"], torch=torch.__version__, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
