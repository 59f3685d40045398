#!/usr/bin/env python3
"""Independent PyTorch twin of figs's three ImageNet supernets, FiGS masks included, for timing
them side by side with `figs bench` on a GPU (issue 23, "GPU speed at ImageNet scale").

It mirrors, written from the C++ sources (nothing is imported from figs or from
/work/shared/bench/torch_figs_small28.py, whose mask and expected-cost method it follows):
  ConvUnit (nas/conv_unit.cpp)   [ReLU ->] conv (no bias, pad k/2) -> BatchNorm2d -> [mask] -> [ReLU]
                                 every ConvUnit of a supernet carries a mask (BuildOptions.masks);
                                 the classifier (Linear) never does.
  mask (nas/mask_layer.cpp, core/mask_math.h)
      one logit per output channel, init 2.5; training: m = sigmoid((logit + l) / tau) with
      Logistic noise l = log u - log(1 - u), one draw per channel per step, made on the device;
      eval: m = 1[logit >= 0]. Computed in float64 (as figs) as exp(logsigmoid(a)), whose
      gradient m * sigmoid(-a) keeps figs's stable slope where sigmoid's y (1 - y) rounds to 0
      (tau = 1e-3 makes |a| large). All masks come from one concatenated logit vector; each
      ConvUnit multiplies its BN output by its slice.
  expected cost (nas/channel_graph.h, nas/expected_cost.cpp, CostForm::Expected, GroupRule::Any,
      no removal-aware accounting, as `figs bench` builds it): channel slots tied by residual adds,
      by the One-Shot streams and by depthwise convs form groups; p_g = 1 - prod(1 - pi) over the
      mask channels on g (1 for mask-free groups: the image, the classifier's outputs); a dense
      conv / linear costs coeff * sum_in p * sum_out p, a depthwise conv coeff * sum_in p, with
      coeff = kh*kw (params) or kh*kw*oh*ow (MACs; 1 for the linear). Penalty = lambda * cost,
      lambda = 4 / cost at init (search.lambda 4, lambda_relative).
  search step (apps/figs/bench.cpp bench_search, nas/search.cpp past the warmup): sampled masks,
      forward, cross-entropy + lambda * E[cost], backward, Adam (eps 1.0; weights and logits in
      two groups, lr 1.6 each: the paper-* recipes of apps/figs/config.cpp); retrain step
      (bench_retrain): the full-width network without masks, cross-entropy, Adam (lr 3.2).
  inference (no figs counterpart in `figs bench`): eval forward, BN running statistics, hard masks.

The supernets (224x224x3 input, 1000 classes):
  oneshot   nas/spaces/oneshot.cpp, preset imagenet (`figs bench --preset paper-oneshot`):
            stem0 ConvUnit 3x3/2 3->32; stem ReLU -> 3x3/2 32->64 (stride 4 in all); 8 cells of 4
            blocks, widths 64, 64, 128, 128, 256, 256, 512, 512 (reduce_at 2, 4, 6: the previous
            cells' outputs avg-pooled 2x2/2 once per reduction in between); cell: adapt_prev and
            adapt_prevprev (ReLU -> 1x1 ConvUnit), stream = their sum, block j reads the stream and
            (but the last) is added to it; block = concat[identity, max3, avg3 (no pad count),
            sep3, sep5, sep7 (ReLU -> dw KxK -> pw1 1x1 -> ReLU -> dw KxK -> pw2 1x1, 4 masks),
            conv17_71 (ReLU -> 1x7 -> ReLU -> 7x1)] -> proj ReLU -> 1x1 ConvUnit; cell out ReLU
            -> 1x1 ConvUnit on concat(blocks); head ReLU, global average pool, Linear(512, 1000).
            Cost in parameters.
  fbnet     nas/spaces/fbnet.cpp, preset imagenet (`--preset paper-fbnet`): stem 3x3/2 ConvUnit
            3->16 + ReLU; stages (layers, channels, stride) (1,16,1) (4,24,2) (4,32,2) (4,64,2)
            (4,112,1) (4,184,2) (1,352,1); every layer sums the candidates k3_e6 and k5_e6
            (pw 1x1 + ReLU, dw KxK at the layer's stride + ReLU, pwl 1x1) and skip (a 1x1 ConvUnit
            at the stride + ReLU where the shape changes; where it does not, the identity, added
            once); head 1x1 ConvUnit 352->1984 + ReLU, pool, Linear(1984, 1000). Cost in MACs.
  resnet50  nas/spaces/resnet.cpp, preset resnet50 (`--preset paper-resnet50`): stem 7x7/2
            ConvUnit 3->64 + ReLU, max pool 3x3/2 pad 1; bottlenecks (3, 4, 6, 3 blocks; inner
            64, 128, 256, 512; x4) conv1 1x1 + ReLU, conv2 3x3 (stride: v1.5) + ReLU, conv3 1x1,
            projection shortcut (1x1 ConvUnit at the stride) where the shape changes; out =
            ReLU(branch + shortcut); pool, Linear(2048, 1000). Cost in MACs.

Verified on 2026-12-07 (here: PyTorch 1.13.0 on the CPU, and 2.11.0 on the CPU for the eager
paths and torch.compile of a reduced FBNet; figs commit 4f07de4, `figs info --space S --preset P`):
parameters (weights + BN + biases + classifier; mask logits apart) and MACs per image (convs
kh*kw*cin/groups*cout*oh*ow, linear in*out; by shape arithmetic and again by forward hooks):
  oneshot   80,913,672 params (+ 121,056 mask logits in 506 masks), 12,225,794,048 MACs
  fbnet      8,754,808 params (+  47,536 mask logits in 140 masks),  1,040,918,848 MACs
  resnet50  25,557,032 params (+  26,560 mask logits in  53 masks),  4,089,184,256 MACs
all equal to figs's. The expected cost at init also equals figs's (to its float32 rounding), read
as 4 / lambda from a one-step `figs search --preset paper-S` on synthetic data (100 classes, so
with a 100-way classifier): 73,622,794.6 params (oneshot), 1,030,731,995 MACs (fbnet),
3,670,084,652 MACs (resnet50); with the 1000-way classifier here: 74,048,639.2, 1,032,382,143.1,
3,671,927,790.6. `--check` prints the counts and exits 1 if one differs from FIGS_COUNTS.
(torch.compile of a training step on the CPU with PyTorch 2.11 crashed inside oneDNN's
convolution_backward, for a 1x1 stride-2 conv given inductor's strides, and ran with
torch.backends.mkldnn.enabled = False: a CPU-only matter; on a GPU convolutions go to cuDNN.)

Usage:
  python3 benchmarks/torch_supernets.py --check --space all            # counts vs figs (exit 1 if not equal)
  python3 benchmarks/torch_supernets.py --space fbnet --device cuda --batch 64 --steps 10 --warmup 3 \\
      --mode search,retrain,inference [--compile] [--channels-last] [--tf32 on|off|on,off]
Prints one line 'RESULT {json}' per mode and TF32 setting, with an "error" key when that one failed
(out of memory, a compile error); the exit status is then 1, after the other modes have run.

On the GPU machine (PyTorch 2.x with CUDA, no network), from the repository root; these are the
runs benchmarks/gpu_speed.sh makes next to `build-gpu/figs --device cuda bench --preset paper-S`,
bounded in time, with a table:
  python3 benchmarks/torch_supernets.py --check --space all
  for s in fbnet resnet50 oneshot; do
    python3 benchmarks/torch_supernets.py --space $s --device cuda --batch 64 --warmup 3 --steps 10 \\
        --mode search,retrain,inference --channels-last --tf32 on,off
    python3 benchmarks/torch_supernets.py --space $s --device cuda --batch 64 --warmup 3 --steps 10 \\
        --mode search,retrain,inference --channels-last --compile
  done
  bash benchmarks/gpu_speed.sh OUT_DIR          # all of it within ~5 minutes, OUT_DIR/gpu_speed.md
Note that figs's CUDA backend computes in strict float32 (cuDNN CUDNN_FMA_MATH, cuBLAS without
TF32): `--tf32 off` is the like-for-like arithmetic; `--tf32 on` (the default here) is what a
PyTorch user gets for convolutions by default.
"""
import argparse
import gc
import json
import resource
import statistics
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# figs's own counts of the full-width supernets, from `figs info --space S --preset P`
# (./build/figs, commit 4f07de4, read on 2026-12-07): (parameters, MACs per image).
FIGS_COUNTS = {
    "oneshot": (80_913_672, 12_225_794_048),   # figs info --space oneshot --preset imagenet
    "fbnet": (8_754_808, 1_040_918_848),       # figs info --space fbnet --preset imagenet
    "resnet50": (25_557_032, 4_089_184_256),   # figs info --space resnet --preset resnet50
}

# The paper-* run presets of apps/figs/config.cpp (`figs config --preset paper-P`) as far as a
# bench step uses them: search.cost, search.tau, search.lr / logits_lr / adam_eps, retrain.lr.
SPACES = {
    "oneshot": {"figs_space": "oneshot", "figs_preset": "imagenet", "run_preset": "paper-oneshot", "cost": "params"},
    "fbnet": {"figs_space": "fbnet", "figs_preset": "imagenet", "run_preset": "paper-fbnet", "cost": "macs"},
    "resnet50": {"figs_space": "resnet", "figs_preset": "resnet50", "run_preset": "paper-resnet50", "cost": "macs"},
}
RECIPE = {"tau": 1e-3, "init_logit": 2.5, "lambda": 4.0, "search_lr": 1.6, "logits_lr": 1.6, "search_adam_eps": 1.0,
          "retrain_lr": 3.2, "retrain_adam_eps": 1e-8}


# ------------------------------------------------------------------------------------------
# Channel graph for the expected cost, built symbolically while the model is constructed
# ------------------------------------------------------------------------------------------
class Graph:
    def __init__(self):
        self.parent = []
        self.dense = []  # (in_slots, out_slots, kh*kw, oh*ow)   (linear: 1, 1)
        self.dw = []     # (in_slots, kh*kw, oh*ow)
        self.masks = []  # (mask offset in the concatenated vector, out_slots)
        self.macs = 0
        self.weights = 0  # conv + linear weight elements (what the full-width params cost charges)

    def alloc(self, n):
        s = list(range(len(self.parent), len(self.parent) + n))
        self.parent.extend(s)
        return s

    def find(self, a):
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, xs, ys):
        assert len(xs) == len(ys), (len(xs), len(ys))
        for a, b in zip(xs, ys):
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                self.parent[max(ra, rb)] = min(ra, rb)


class Builder:
    """What the modules register while they are built: the mask slices and the channel graph."""

    def __init__(self, masks):
        self.masks = masks
        self.units = []       # masked ConvUnits in construction order
        self.mask_total = 0   # channels of all masks
        self.graph = Graph()


def conv_out(size, k, stride):
    return (size + 2 * (k // 2) - k) // stride + 1


class ConvUnit(nn.Module):
    """[ReLU ->] conv (no bias) -> BN -> [mask] -> [ReLU] (nas/conv_unit.cpp)."""

    def __init__(self, b, cin, cout, kh, kw=None, stride=1, depthwise=False, relu_before=False, relu_after=False,
                 in_slots=None, hw=None):
        super().__init__()
        kw = kh if kw is None else kw
        assert not depthwise or cin == cout
        assert len(in_slots) == cin, (len(in_slots), cin)
        self.relu_before, self.relu_after = relu_before, relu_after
        self.conv = nn.Conv2d(cin, cout, (kh, kw), stride=stride, padding=(kh // 2, kw // 2),
                              groups=cin if depthwise else 1, bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(cout)
        self.cout = cout
        self.masked = b.masks
        if self.masked:
            self.logits = nn.Parameter(torch.full((cout,), RECIPE["init_logit"]))  # "<path>.mask.logits"
            self.mask_offset = b.mask_total
            b.units.append(self)
            b.mask_total += cout
        self.hw = (conv_out(hw[0], kh, stride), conv_out(hw[1], kw, stride))
        ohw = self.hw[0] * self.hw[1]
        g = b.graph
        if depthwise:
            g.dw.append((in_slots, kh * kw, ohw))
            self.out_slots = in_slots
        else:
            self.out_slots = g.alloc(cout)
            g.dense.append((in_slots, self.out_slots, kh * kw, ohw))
        if self.masked:
            g.masks.append((self.mask_offset, self.out_slots))
        g.macs += cout * ohw * (1 if depthwise else cin) * kh * kw
        g.weights += self.conv.weight.numel()

    def forward(self, x, m):
        if self.relu_before:
            x = F.relu(x)
        h = self.bn(self.conv(x))
        if self.masked and m is not None:
            h = h * m.narrow(0, self.mask_offset, self.cout).view(1, self.cout, 1, 1)
        if self.relu_after:
            h = F.relu(h)
        return h


class Classifier(nn.Module):
    """Global average pool -> Linear; `relu_first`: One-Shot's head ReLU."""

    def __init__(self, b, cin, classes, in_slots, relu_first=False):
        super().__init__()
        self.relu_first = relu_first
        self.fc = nn.Linear(cin, classes)
        b.graph.dense.append((in_slots, b.graph.alloc(classes), 1, 1))
        b.graph.macs += cin * classes
        b.graph.weights += cin * classes

    def forward(self, x):
        if self.relu_first:
            x = F.relu(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ------------------------------------------------------------------------------------------
# One-Shot (nas/spaces/oneshot.cpp)
# ------------------------------------------------------------------------------------------
ONESHOT_OPS = ("identity", "max3", "avg3", "sep3", "sep5", "sep7", "conv17_71")


class OneShotBlock(nn.Module):
    def __init__(self, b, c, hw, in_slots, ops=ONESHOT_OPS):
        super().__init__()
        self.parameterless = [op for op in ops if op in ("identity", "max3", "avg3")]
        self.ops = nn.ModuleList()
        cat_slots = []
        for op in ops:
            if op in ("identity", "max3", "avg3"):
                cat_slots += in_slots
            elif op in ("sep3", "sep5", "sep7"):
                k = int(op[3])
                dw1 = ConvUnit(b, c, c, k, depthwise=True, relu_before=True, in_slots=in_slots, hw=hw)
                pw1 = ConvUnit(b, c, c, 1, in_slots=dw1.out_slots, hw=hw)
                dw2 = ConvUnit(b, c, c, k, depthwise=True, relu_before=True, in_slots=pw1.out_slots, hw=hw)
                pw2 = ConvUnit(b, c, c, 1, in_slots=dw2.out_slots, hw=hw)
                self.ops.append(nn.ModuleList([dw1, pw1, dw2, pw2]))
                cat_slots += pw2.out_slots
            else:  # conv17_71
                c17 = ConvUnit(b, c, c, 1, 7, relu_before=True, in_slots=in_slots, hw=hw)
                c71 = ConvUnit(b, c, c, 7, 1, relu_before=True, in_slots=c17.out_slots, hw=hw)
                self.ops.append(nn.ModuleList([c17, c71]))
                cat_slots += c71.out_slots
        n_cat = len(self.parameterless) + len(self.ops)
        self.proj = ConvUnit(b, n_cat * c, c, 1, relu_before=True, in_slots=cat_slots, hw=hw)
        self.out_slots = self.proj.out_slots

    def forward(self, x, m):
        outs = []
        for op in self.parameterless:
            if op == "identity":
                outs.append(x)
            elif op == "max3":
                outs.append(F.max_pool2d(x, 3, 1, 1))
            else:
                outs.append(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        for units in self.ops:
            h = x
            for u in units:
                h = u(h, m)
            outs.append(h)
        return self.proj(torch.cat(outs, 1), m)


class OneShotCell(nn.Module):
    def __init__(self, b, c, c_prev, c_pp, pool_prev, pool_pp, hw, blocks, prev_slots, pp_slots):
        super().__init__()
        self.pool_prev, self.pool_pp = pool_prev, pool_pp
        self.adapt_prev = ConvUnit(b, c_prev, c, 1, relu_before=True, in_slots=prev_slots, hw=hw)
        self.adapt_prevprev = ConvUnit(b, c_pp, c, 1, relu_before=True, in_slots=pp_slots, hw=hw)
        b.graph.union(self.adapt_prev.out_slots, self.adapt_prevprev.out_slots)  # the add
        stream = self.adapt_prev.out_slots
        self.blocks = nn.ModuleList()
        cat_slots = []
        for j in range(blocks):
            blk = OneShotBlock(b, c, hw, stream)
            self.blocks.append(blk)
            cat_slots += blk.out_slots
            if j + 1 < blocks:
                b.graph.union(stream, blk.out_slots)  # stream += block output
        self.out = ConvUnit(b, blocks * c, c, 1, relu_before=True, in_slots=cat_slots, hw=hw)
        self.out_slots = self.out.out_slots

    def forward(self, prev, pp, m):
        for _ in range(self.pool_prev):
            prev = F.avg_pool2d(prev, 2, 2)
        for _ in range(self.pool_pp):
            pp = F.avg_pool2d(pp, 2, 2)
        stream = self.adapt_prev(prev, m) + self.adapt_prevprev(pp, m)
        outs = []
        for j, blk in enumerate(self.blocks):
            y = blk(stream, m)
            outs.append(y)
            if j + 1 < len(self.blocks):
                stream = stream + y
        return self.out(torch.cat(outs, 1), m)


class OneShotNet(nn.Module):
    """One-Shot supernet; defaults = preset imagenet (stem_stride 4)."""

    def __init__(self, b, width=64, cells=8, blocks=4, stem_stride=4, reduce_at=(2, 4, 6), image=224, in_ch=3,
                 classes=1000):
        super().__init__()
        g = b.graph
        slots = g.alloc(in_ch)
        hw = (image, image)
        self.stem0 = None
        if stem_stride == 4:
            self.stem0 = ConvUnit(b, in_ch, max(1, width // 2), 3, stride=2, in_slots=slots, hw=hw)
            slots, hw, cin = self.stem0.out_slots, self.stem0.hw, max(1, width // 2)
            self.stem = ConvUnit(b, cin, width, 3, stride=2, relu_before=True, in_slots=slots, hw=hw)
        else:
            self.stem = ConvUnit(b, in_ch, width, 3, stride=stem_stride, in_slots=slots, hw=hw)
        hw = self.stem.hw
        chans, reds, outs = [width, width], [0, 0], [self.stem.out_slots, self.stem.out_slots]
        reduced = 0
        self.cells = nn.ModuleList()
        for i in range(cells):
            if i in reduce_at:
                reduced += 1
                hw = (hw[0] // 2, hw[1] // 2)
            c = width * 2 ** sum(1 for r in reduce_at if i >= r)
            cell = OneShotCell(b, c, chans[-1], chans[-2], reduced - reds[-1], reduced - reds[-2], hw, blocks,
                               outs[-1], outs[-2])
            self.cells.append(cell)
            chans.append(c)
            reds.append(reduced)
            outs.append(cell.out_slots)
        self.head = Classifier(b, chans[-1], classes, outs[-1], relu_first=True)

    def forward(self, x, m=None):
        s = self.stem(self.stem0(x, m) if self.stem0 is not None else x, m)
        prev, pp = s, s
        for cell in self.cells:
            nxt = cell(prev, pp, m)
            pp, prev = prev, nxt
        return self.head(prev)


# ------------------------------------------------------------------------------------------
# FBNet (nas/spaces/fbnet.cpp), FiGS-FBNet candidates k3_e6, k5_e6, skip
# ------------------------------------------------------------------------------------------
class FBLayer(nn.Module):
    def __init__(self, b, cin, cout, stride, hw, in_slots, candidates=("k3_e6", "k5_e6", "skip")):
        super().__init__()
        self.residual = cin == cout and stride == 1
        self.cands = nn.ModuleList()
        out_slots = in_slots if self.residual else None
        for name in candidates:
            if name == "skip":
                if self.residual:
                    continue  # the identity: the layer adds x once
                units = [ConvUnit(b, cin, cout, 1, stride=stride, relu_after=True, in_slots=in_slots, hw=hw)]
            else:
                k, e = int(name[1]), int(name.split("_e")[1])
                mid = cin * e
                pw = ConvUnit(b, cin, mid, 1, relu_after=True, in_slots=in_slots, hw=hw)
                dw = ConvUnit(b, mid, mid, k, stride=stride, depthwise=True, relu_after=True, in_slots=pw.out_slots,
                              hw=hw)
                pwl = ConvUnit(b, mid, cout, 1, in_slots=dw.out_slots, hw=dw.hw)
                units = [pw, dw, pwl]
            self.cands.append(nn.ModuleList(units))
            if out_slots is None:
                out_slots = units[-1].out_slots
            else:
                b.graph.union(out_slots, units[-1].out_slots)  # the layer's sum
            self.hw = units[-1].hw
        if self.residual:
            self.hw = hw
        self.out_slots = out_slots

    def forward(self, x, m):
        out = x if self.residual else None
        for units in self.cands:
            h = x
            for u in units:
                h = u(h, m)
            out = h if out is None else out + h
        return out


class FBNetNet(nn.Module):
    def __init__(self, b, image=224, in_ch=3, classes=1000, stem=16, stem_stride=2, layers=(1, 4, 4, 4, 4, 4, 1),
                 channels=(16, 24, 32, 64, 112, 184, 352), strides=(1, 2, 2, 2, 1, 2, 1), head=1984):
        super().__init__()
        slots = b.graph.alloc(in_ch)
        self.stem = ConvUnit(b, in_ch, stem, 3, stride=stem_stride, relu_after=True, in_slots=slots,
                             hw=(image, image))
        slots, hw, cin = self.stem.out_slots, self.stem.hw, stem
        self.layers = nn.ModuleList()
        for n, c, s in zip(layers, channels, strides):
            for i in range(n):
                layer = FBLayer(b, cin, c, s if i == 0 else 1, hw, slots)
                self.layers.append(layer)
                slots, hw, cin = layer.out_slots, layer.hw, c
        self.head_conv = ConvUnit(b, cin, head, 1, relu_after=True, in_slots=slots, hw=hw)
        self.head = Classifier(b, head, classes, self.head_conv.out_slots)

    def forward(self, x, m=None):
        h = self.stem(x, m)
        for layer in self.layers:
            h = layer(h, m)
        return self.head(self.head_conv(h, m))


# ------------------------------------------------------------------------------------------
# ResNet-50 (nas/spaces/resnet.cpp), bottleneck v1.5, projection shortcuts
# ------------------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, b, cin, width, cout, stride, hw, in_slots, project):
        super().__init__()
        self.conv1 = ConvUnit(b, cin, width, 1, relu_after=True, in_slots=in_slots, hw=hw)
        self.conv2 = ConvUnit(b, width, width, 3, stride=stride, relu_after=True, in_slots=self.conv1.out_slots,
                              hw=hw)
        self.conv3 = ConvUnit(b, width, cout, 1, in_slots=self.conv2.out_slots, hw=self.conv2.hw)
        self.downsample = None
        short = in_slots
        if project:
            self.downsample = ConvUnit(b, cin, cout, 1, stride=stride, in_slots=in_slots, hw=hw)
            short = self.downsample.out_slots
        b.graph.union(self.conv3.out_slots, short)  # the residual add
        self.out_slots, self.hw = self.conv3.out_slots, self.conv3.hw

    def forward(self, x, m):
        s = self.downsample(x, m) if self.downsample is not None else x
        h = self.conv3(self.conv2(self.conv1(x, m), m), m)
        return F.relu(h + s)


class ResNetNet(nn.Module):
    def __init__(self, b, image=224, in_ch=3, classes=1000, stem=64, blocks=(3, 4, 6, 3), widths=(64, 128, 256, 512),
                 strides=(1, 2, 2, 2), expansion=4):
        super().__init__()
        slots = b.graph.alloc(in_ch)
        self.stem = ConvUnit(b, in_ch, stem, 7, stride=2, relu_after=True, in_slots=slots, hw=(image, image))
        hw = tuple((s + 2 - 3) // 2 + 1 for s in self.stem.hw)  # max pool 3x3/2, pad 1
        slots, cin = self.stem.out_slots, stem
        self.blocks = nn.ModuleList()
        for n, w, s in zip(blocks, widths, strides):
            for i in range(n):
                stride = s if i == 0 else 1
                cout = w * expansion
                blk = Bottleneck(b, cin, w, cout, stride, hw, slots, project=i == 0 and (stride != 1 or cin != cout))
                self.blocks.append(blk)
                slots, hw, cin = blk.out_slots, blk.hw, cout
        self.head = Classifier(b, cin, classes, slots)

    def forward(self, x, m=None):
        h = F.max_pool2d(self.stem(x, m), 3, 2, 1)
        for blk in self.blocks:
            h = blk(h, m)
        return self.head(h)


# ------------------------------------------------------------------------------------------
# The supernet with its masks and expected cost
# ------------------------------------------------------------------------------------------
class Supernet(nn.Module):
    def __init__(self, space, masks=True, tau=RECIPE["tau"], cost="params", **kw):
        super().__init__()
        b = Builder(masks)
        self.net = {"oneshot": OneShotNet, "fbnet": FBNetNet, "resnet50": ResNetNet}[space](b, **kw)
        self.units = b.units
        self.mask_total = b.mask_total
        self.macs_per_image = b.graph.macs
        self.conv_linear_weights = b.graph.weights
        self.tau = tau
        self.cost_kind = cost
        if masks:
            self._build_cost(b.graph)

    def logits(self):
        return [u.logits for u in self.units]

    def forward(self, x, m=None):
        return self.net(x, m)

    def mask_vector(self, noise=None):
        """Training (noise given): sigmoid((nu + l) / tau) in float64, as exp(logsigmoid(.)) for figs's
        stable slope; eval (noise None): 1[nu >= 0]. Returned in float32, the activations' dtype."""
        nu = torch.cat(self.logits())
        if noise is None:
            return (nu >= 0).to(torch.float32)
        a = (nu.to(torch.float64) + noise) / self.tau
        return torch.exp(F.logsigmoid(a)).to(torch.float32)

    def _build_cost(self, g):
        roots = [g.find(s) for s in range(len(g.parent))]
        ids = {}
        grp = [ids.setdefault(r, len(ids)) for r in roots]
        self.n_groups = len(ids)
        mask_grp = [0] * self.mask_total
        for off, out_slots in g.masks:
            for c, s in enumerate(out_slots):
                mask_grp[off + c] = grp[s]
        has = [False] * self.n_groups
        for gid in mask_grp:
            has[gid] = True
        in_idx, in_seg, out_idx, out_seg, k_par, k_mac = [], [], [], [], [], []
        for oi, (ins, outs, khkw, ohw) in enumerate(g.dense):
            in_idx += [grp[s] for s in ins]
            in_seg += [oi] * len(ins)
            out_idx += [grp[s] for s in outs]
            out_seg += [oi] * len(outs)
            k_par.append(float(khkw))
            k_mac.append(float(khkw * ohw))
        dw_idx, dw_par, dw_mac = [], [], []
        for ins, khkw, ohw in g.dw:
            dw_idx += [grp[s] for s in ins]
            dw_par += [float(khkw)] * len(ins)
            dw_mac += [float(khkw * ohw)] * len(ins)
        macs = self.cost_kind == "macs"
        for name, v, dt in [("mask_grp", mask_grp, torch.long), ("group_has_mask", has, torch.bool),
                            ("in_idx", in_idx, torch.long), ("in_seg", in_seg, torch.long),
                            ("out_idx", out_idx, torch.long), ("out_seg", out_seg, torch.long),
                            ("dense_k", k_mac if macs else k_par, torch.float64),
                            ("dw_idx", dw_idx, torch.long), ("dw_k", dw_mac if macs else dw_par, torch.float64)]:
            self.register_buffer(name, torch.tensor(v, dtype=dt), persistent=False)
        self.n_dense = len(g.dense)

    def expected_cost(self, full=False):
        """E[cost] in float64 (figs: float64 inside), differentiable in the logits; full: every p = 1."""
        dev = self.dense_k.device
        if full:
            p = torch.ones(self.n_groups, dtype=torch.float64, device=dev)
        else:
            nu = torch.cat(self.logits()).to(torch.float64)
            # log(1 - pi) = logsigmoid(-nu); p_g = 1 - prod(1 - pi) = 1 - exp(sum log(1 - pi))
            lq = torch.zeros(self.n_groups, dtype=torch.float64, device=dev).index_add(0, self.mask_grp,
                                                                                     F.logsigmoid(-nu))
            p = torch.where(self.group_has_mask, 1 - torch.exp(lq), torch.ones_like(lq))
        s_in = torch.zeros(self.n_dense, dtype=torch.float64, device=dev).index_add(0, self.in_seg, p[self.in_idx])
        s_out = torch.zeros(self.n_dense, dtype=torch.float64, device=dev).index_add(0, self.out_seg,
                                                                                   p[self.out_idx])
        return (self.dense_k * s_in * s_out).sum() + (self.dw_k * p[self.dw_idx]).sum()


def param_counts(model):
    logits = sum(p.numel() for p in model.logits())
    return sum(p.numel() for p in model.parameters()) - logits, logits


def hook_macs(model, image=224):
    """MACs per image counted by forward hooks on a batch-1 forward: convs kh*kw*cin/groups*cout*oh*ow,
    linear in*out."""
    total = [0]

    def conv_hook(mod, inp, out):
        kh, kw = mod.kernel_size
        total[0] += kh * kw * (mod.in_channels // mod.groups) * mod.out_channels * out.shape[2] * out.shape[3]

    def lin_hook(mod, inp, out):
        total[0] += mod.in_features * mod.out_features

    hs = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hs.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hs.append(mod.register_forward_hook(lin_hook))
    model.eval()
    with torch.no_grad():
        m = model.mask_vector(None) if model.units else None
        out = model(torch.randn(1, 3, image, image), m)
    for h in hs:
        h.remove()
    assert tuple(out.shape) == (1, 1000), out.shape
    return total[0]


# ------------------------------------------------------------------------------------------
# Device settings
# ------------------------------------------------------------------------------------------
def set_tf32(on):
    """Through the legacy flags only (allow_tf32), which PyTorch 1.13 - 2.x all accept: mixing them with
    the fp32_precision API of 2.9+ makes PyTorch (and inductor) raise at the next read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
        state = {"requested": "on" if on else "off"}
        try:
            state["matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
            state["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        except RuntimeError as e:  # pragma: no cover - a PyTorch that refuses the legacy read
            state["read_error"] = str(e)[:200]
    return state


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "torch.cuda.max_memory_allocated (this mode)"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "peak RSS of the process (ru_maxrss)"


# ------------------------------------------------------------------------------------------
# --check
# ------------------------------------------------------------------------------------------
def check(space):
    spec = SPACES[space]
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = Supernet(space, masks=True, cost=spec["cost"])
    n_params, n_logits = param_counts(model)
    macs_hooks = hook_macs(model)
    with torch.no_grad():
        full = float(model.expected_cost(full=True))
        init = float(model.expected_cost())
    want_p, want_m = FIGS_COUNTS[space]
    # At full width the penalised cost is the conv + linear weights (params) or the MACs (macs).
    want_full = model.conv_linear_weights if spec["cost"] == "params" else model.macs_per_image
    ok = (n_params == want_p and model.macs_per_image == want_m and macs_hooks == want_m and
          abs(full - want_full) <= 1e-9 * want_full)
    res = {"kind": "check", "space": space, "figs": f"figs info --space {spec['figs_space']} --preset "
           f"{spec['figs_preset']}", "params": n_params, "figs_params": want_p, "mask_logits": n_logits,
           "masks": len(model.units), "macs_per_image": model.macs_per_image, "macs_per_image_hooks": macs_hooks,
           "figs_macs": want_m, "cost_kind": spec["cost"], "channel_groups": model.n_groups,
           "expected_cost_full": full, "expected_cost_init": init, "lambda": RECIPE["lambda"] / init,
           "ok": ok, "torch": torch.__version__, "seconds": round(time.perf_counter() - t0, 2)}
    print("RESULT " + json.dumps(res), flush=True)
    log(f"{space}: params {n_params:,} (figs {want_p:,}) + {n_logits:,} mask logits in {len(model.units)} masks; "
        f"MACs {model.macs_per_image:,} / hooks {macs_hooks:,} (figs {want_m:,}); E[{spec['cost']}] full {full:,.0f}, "
        f"init {init:,.1f} -> {'OK' if ok else 'MISMATCH'}")
    return ok


# ------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------
def time_mode(space, mode, args, device, tf32_state):
    spec = SPACES[space]
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    torch.manual_seed(args.seed)
    masked = mode != "retrain"
    model = Supernet(space, masks=masked, tau=args.tau, cost=spec["cost"])
    n_params, n_logits = param_counts(model)
    macs = model.macs_per_image
    model = model.to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    g = torch.Generator(device=device).manual_seed(args.seed) if device.type == "cuda" else None
    x = torch.randn(args.batch, 3, 224, 224, device=device, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (args.batch,), device=device, generator=g)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    compiled = bool(args.compile and hasattr(torch, "compile"))
    wrap = (lambda f: torch.compile(f)) if compiled else (lambda f: f)
    extra = {}

    if mode == "inference":
        model.eval()

        def fwd(xb):
            return model(xb, model.mask_vector(None))

        f = wrap(fwd)

        def step():
            with torch.no_grad():
                return f(x)
    elif mode == "search":
        model.train()
        with torch.no_grad():
            lam = RECIPE["lambda"] / float(model.expected_cost())  # lambda_relative: 4 / initial cost
        extra = {"cost_kind": spec["cost"], "lambda": lam, "tau": args.tau}
        logit_ids = {id(p) for p in model.logits()}
        weights = [p for p in model.parameters() if id(p) not in logit_ids]
        opt = torch.optim.Adam([{"params": weights, "lr": RECIPE["search_lr"]},
                                {"params": model.logits(), "lr": RECIPE["logits_lr"]}], eps=RECIPE["search_adam_eps"])

        def loss_fn(xb, yb, noise):
            ce = F.cross_entropy(model(xb, model.mask_vector(noise)), yb)
            return ce + lam * model.expected_cost()

        f = wrap(loss_fn)
        n = model.mask_total

        def step():
            u = torch.rand(n, dtype=torch.float64, device=device).clamp_(1e-12, 1 - 1e-12)
            noise = torch.log(u) - torch.log1p(-u)  # Logistic(0, 1), drawn on the device
            opt.zero_grad(set_to_none=True)
            loss = f(x, y, noise)
            loss.backward()
            opt.step()
            return loss
    else:  # retrain
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=RECIPE["retrain_lr"], eps=RECIPE["retrain_adam_eps"])

        def loss_fn(xb, yb):
            return F.cross_entropy(model(xb), yb)

        f = wrap(loss_fn)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = f(x, y)
            loss.backward()
            opt.step()
            return loss

    times, losses = [], []
    for i in range(args.warmup + args.steps):
        sync(device)
        t = time.perf_counter()
        out = step()
        sync(device)
        dt = time.perf_counter() - t
        times.append(dt)
        if mode != "inference" and (i == 0 or i == args.warmup + args.steps - 1):
            losses.append(float(out.detach()))
        if i < args.warmup:
            log(f"{space} {mode} warm-up step {i}: {dt:.3f} s")
    timed = times[args.warmup:]
    med = statistics.median(timed)
    train = mode != "inference"
    flops = (6 if train else 2) * macs * args.batch
    peak, peak_kind = peak_memory(device)
    res = {"kind": "timing", "space": space, "figs_preset": spec["run_preset"], "mode": mode, "batch": args.batch,
           "device": device.type,
           "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "compile": compiled, "compile_requested": args.compile,
           "channels_last": args.channels_last, "tf32": tf32_state,
           "cudnn_benchmark": bool(torch.backends.cudnn.benchmark), "threads": torch.get_num_threads(),
           "img_per_s": args.batch / med, "ms_per_step": 1e3 * med, "ms_min": 1e3 * min(timed),
           "ms_max": 1e3 * max(timed), "steps": len(timed), "warmup": args.warmup, "first_step_s": times[0],
           "params": n_params, "mask_logits": n_logits, "macs_per_image": macs,
           "gflops": flops / med / 1e9,
           "gflops_rule": "6*MACs*batch per step (forward + 2x backward)" if train else "2*MACs*batch per step (forward)",
           "peak_memory_mib": peak, "peak_memory_kind": peak_kind, **extra}
    if losses:
        res["loss_first"], res["loss_last"] = losses[0], losses[-1]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="fbnet", help="oneshot, fbnet or resnet50 (--check also takes 'all')")
    ap.add_argument("--check", action="store_true", help="params and MACs vs figs info; exit 1 on a difference")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed steps (after --warmup); the median is reported")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--mode", default="search",
                    help="search, retrain, inference, or a comma-separated list of them (one RESULT line each)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the step's loss / forward (eager when "
                    "this torch has no torch.compile)")
    ap.add_argument("--channels-last", action="store_true", help="model and input in channels-last (figs's layout)")
    ap.add_argument("--tf32", default="on",
                    help="on or off: TF32 for cuDNN convs and cuBLAS matmuls (the legacy allow_tf32 flags; figs: "
                    "off); 'on,off' runs every mode with each in turn")
    ap.add_argument("--cudnn-benchmark", choices=["on", "off"], default="off",
                    help="cuDNN autotuning (PyTorch's default off: heuristics, as figs)")
    ap.add_argument("--tau", type=float, default=RECIPE["tau"], help="mask temperature (paper-* recipes: 1e-3)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    spaces = list(SPACES) if args.space == "all" else [args.space]
    for s in spaces:
        if s not in SPACES:
            ap.error(f"--space: '{s}' is not one of oneshot, fbnet, resnet50" + (", all" if args.check else ""))
    if args.check:
        ok = all([check(s) for s in spaces])
        sys.exit(0 if ok else 1)
    if len(spaces) != 1:
        ap.error("timing takes one --space")
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    for m in modes:
        if m not in ("search", "retrain", "inference"):
            ap.error(f"--mode: '{m}' is not search, retrain or inference")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device")
    tf32s = [t.strip() for t in args.tf32.split(",") if t.strip()]
    if not tf32s or any(t not in ("on", "off") for t in tf32s):
        ap.error(f"--tf32: '{args.tf32}' is not on, off or a list of them")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark == "on"
    if args.compile and not hasattr(torch, "compile"):
        log(f"torch {torch.__version__} has no torch.compile: running eager")
    failed = False
    for tf32, mode in [(t, m) for t in tf32s for m in modes]:
        tf32_state = set_tf32(tf32 == "on")
        try:
            res = time_mode(spaces[0], mode, args, device, tf32_state)
        except Exception as e:  # out of memory, a compile error: reported, the next mode still runs
            failed = True
            res = {"kind": "timing", "space": spaces[0], "figs_preset": SPACES[spaces[0]]["run_preset"], "mode": mode,
                   "batch": args.batch, "device": device.type, "torch": torch.__version__,
                   "compile": bool(args.compile and hasattr(torch, "compile")), "compile_requested": args.compile,
                   "channels_last": args.channels_last,
                   "tf32": tf32_state, "error": f"{type(e).__name__}: {str(e)[:300]}"}
            log(f"{spaces[0]} {mode}: {res['error']}")
        print("RESULT " + json.dumps(res), flush=True)
        if "error" not in res:
            log(f"{res['space']} {mode} B={args.batch} {res['device_name']} compile={res['compile']} "
                f"cl={args.channels_last} tf32={tf32}: {res['img_per_s']:.1f} img/s, "
                f"{res['ms_per_step']:.1f} ms/step, {res['gflops']:.1f} GFLOP/s, peak {res['peak_memory_mib']:.0f} MiB")
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
