#!/usr/bin/env python3
"""Kite's sample models: the thirteen lightweight CNNs of shared/NETWORKS.md, written with
onnx.helper the way PyTorch's exporters write them, with seeded random weights.

    .venv/bin/python Samples/generate.py                           # small samples -> Samples/
    .venv/bin/python Samples/generate.py --full --out bench/models # full-size models, not committed

Each builder follows the real architecture (layer sequence, strides, group counts, SE, ...)
and is parametrized by width, depth and resolution: the committed samples are small (64-96 px,
reduced widths/repeats, 10 classes), --full gives the reference sizes (224 px, Xception 299 px,
1000 classes). Graphs are written as the TorchScript exporter writes them at opsets 9-17
(with constant folding: BatchNorm folded into Conv, constants as initializers; without it:
BatchNormalization nodes, Constant nodes, Shape->Gather->Unsqueeze->Concat chains) and as the
dynamo exporter writes them at opset 18 (MatMul + Add linear layers, value_info for every value).
Every sample records the patterns it contains in Samples/manifest.json.

Sample layout (read by the Swift tests, no Python needed):
    Samples/<sample>/model.onnx
    Samples/<sample>/inputs/input.npy     float32, seeded, batch 1
    Samples/<sample>/outputs/output.npy   onnxruntime's output (CPU, graph optimizations off)
    Samples/manifest.json

Generation is deterministic: a rerun writes the same bytes.
"""
import argparse
import json
import math
import os
import shutil
import sys
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = np.float32
I64 = np.int64
INT64_MAX = int(np.iinfo(np.int64).max)
IR_VERSION = {9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8}
TORCHSCRIPT_VERSION = "2.1.2"   # producer_version of the TorchScript exporter samples
DYNAMO_VERSION = "2.5.1"        # producer_version of the dynamo exporter samples (opset 18)


def make_divisible(v, divisor=8, min_value=None):
    """torchvision's _make_divisible: round to a multiple of divisor, never below 90% of v."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class Style:
    """How one sample is written: which exporter, and which form of each pattern."""
    dynamo: bool = False        # dynamo exporter (opset 18): node names node_*, MatMul+Add, value_info
    fold_bn: bool = False       # BatchNorm folded into Conv (TorchScript with do_constant_folding=True)
    const: str = "node"         # small constants: "node" = Constant nodes, "init" = initializers
    shuffle: str = "const"      # channel shuffle: "const" = constant shapes, "chain" = Shape/Gather chains
    shuffle_cast: bool = False  # channels-per-group computed through Cast(float) / Cast(int64)
    split: str = "split"        # channel split: "split" (form by opset), "slice", or "sequence" (dynamo unoptimised)
    slice_steps: bool = False   # Slice with an explicit steps input
    hswish: str = "op"          # "op" (HardSwish, opset 14+), "hsig" (x*HardSigmoid(x)), "clip" (x*Clip(x+3,0,6)/6)
    se: str = "gap"             # squeeze-excite pooling: "gap" or "reducemean"
    flatten: str = "flatten"    # "flatten", "reshape" (constant shape), "chain" (Shape chain), "squeeze"
    fc: str = "gemm"            # "gemm" or "matmul" (Transpose(weight) -> MatMul -> Add)
    batch: object = 1           # graph input batch dimension: 1 or "batch" (symbolic)
    dropout: bool = False       # Dropout node(s) in the classifier
    identity: bool = False      # an Identity node in the classifier
    inits_as_inputs: bool = False  # initializers also listed as graph inputs (older exporters)
    functions: bool = False     # torch.onnx.dynamo_export (torch 2.1-2.4): model-local functions, If on rank


class T:
    """A value in the graph with its channel count and spatial size (h, w None for 2-D)."""
    __slots__ = ("name", "c", "h", "w")

    def __init__(self, name, c, h=None, w=None):
        self.name, self.c, self.h, self.w = name, c, h, w

    def like(self, name, c=None):
        return T(name, self.c if c is None else c, self.h, self.w)


class Graph:
    def __init__(self, opset, style, seed, scales=None, calib=False):
        self.scales = scales or {}  # layer index -> weight multiplier (from calibrate())
        self.calib = calib          # calibration build: record each layer's weight and output
        self.layers = []            # (weight name, weight, output name, bias) per conv/linear, in build order
        self.opset = opset
        self.st = style
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.path = []
        self.taken = set()
        self.node_count = 0
        self.value_count = 0
        self.const_count = 0
        self.patterns = set()
        self.init_names = set()

    # ---- naming ---------------------------------------------------------------------------
    @contextmanager
    def scope(self, *parts):
        n = len(self.path)
        self.path.extend(str(p) for p in parts if p is not None and p != "")
        try:
            yield
        finally:
            del self.path[n:]

    def _prefix(self):
        return "".join("/" + ".".join(self.path[:i + 1]) for i in range(len(self.path)))

    def _node_name(self, op):
        self.node_count += 1
        if self.st.dynamo:
            return f"node_{op}_{self.node_count - 1}"
        base = f"{self._prefix()}/{op}"
        name, i = base, 0
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name

    def tag(self, *patterns):
        self.patterns.update(patterns)

    def node(self, op, inputs, n_out=1, **attrs):
        name = self._node_name(op)
        if self.st.dynamo:
            outs = []
            for _ in range(n_out):
                outs.append(f"val_{self.value_count}")
                self.value_count += 1
        else:
            outs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def _add_init(self, name, arr):
        assert name not in self.init_names, name
        self.init_names.add(name)
        self.inits.append(numpy_helper.from_array(np.array(arr, order="C"), name))
        return name

    def param(self, suffix, arr):
        """A module parameter or buffer, named as torch names it (features.0.0.weight)."""
        return self._add_init(".".join(self.path + [suffix]), arr)

    def folded(self, user, arr):
        """A constant-folded tensor, named as torch names them (onnx::Conv_123)."""
        self.const_count += 1
        name = f"val_c{self.const_count}" if self.st.dynamo else f"onnx::{user}_{1000 + self.const_count}"
        return self._add_init(name, arr)

    def const(self, arr, user="Constant"):
        """A small constant (shape, axes, scalar): a Constant node or an initializer, per style."""
        arr = np.asarray(arr)
        if self.st.const == "node":
            self.tag("constant-nodes")
            return self.node("Constant", [], value=numpy_helper.from_array(arr))
        self.tag("constant-initializers")
        return self.folded(user, arr)

    # ---- weights ----------------------------------------------------------------------------
    def normal(self, std, shape):
        return self.rng.normal(0.0, std, shape).astype(F32)

    def bn_stats(self, c, gamma_scale=1.0):
        gamma = (self.rng.uniform(0.5, 1.5, c) * gamma_scale).astype(F32)
        beta = self.rng.normal(0.0, 0.1, c).astype(F32)
        mean = self.rng.normal(0.0, 0.1, c).astype(F32)
        var = self.rng.uniform(0.5, 1.5, c).astype(F32)
        return gamma, beta, mean, var

    # ---- layers -----------------------------------------------------------------------------
    def conv(self, x, cout, k, s=1, p=None, g=1, d=1, bias=False, gain=2.0, pads=None, name=None,
             bn=None, gamma_scale=1.0):
        """Conv2d (+ BatchNorm2d named bn: a separate node, or folded into the conv)."""
        assert x.c % g == 0 and cout % g == 0, (x.c, cout, g)
        if pads is None:
            p = (k - 1) // 2 * d if p is None else p
            pads = [p, p, p, p]
        cin_g = x.c // g
        w = self.normal(math.sqrt(gain / (cin_g * k * k)), (cout, cin_g, k, k))
        b = self.rng.normal(0.0, 0.1, cout).astype(F32) if bias else None
        stats = self.bn_stats(cout, gamma_scale) if bn is not None else None
        w = (w * F32(self.scales.get(len(self.layers), 1.0))).astype(F32)
        fold = stats is not None and self.st.fold_bn
        with self.scope(*(name if isinstance(name, tuple) else (name,))):
            if fold:
                gamma, beta, mean, var = stats
                scale = gamma / np.sqrt(var + F32(1e-5))
                w = (w * scale[:, None, None, None]).astype(F32)
                b = ((b if b is not None else 0) - mean) * scale + beta
                inputs = [x.name, self.folded("Conv", w), self.folded("Conv", b.astype(F32))]
                self.tag("bn-folded")
            else:
                inputs = [x.name, self.param("weight", w)]
                if b is not None:
                    inputs.append(self.param("bias", b))
            y = self.node("Conv", inputs, dilations=[d, d], group=g, kernel_shape=[k, k], pads=pads, strides=[s, s])
            self.layers.append((inputs[1], w, y, None if b is None else b.reshape(1, -1, 1, 1)))
        self.tag("conv-bias" if len(inputs) == 3 else "conv-no-bias")
        if g > 1:
            self.tag("conv-depthwise" if g == x.c else "conv-group")
        if d > 1:
            self.tag("conv-dilation")
        if s > 1:
            self.tag("conv-stride")
        if any(pads):
            self.tag("conv-pads" if len(set(pads)) == 1 else "conv-asymmetric-pads")
        h = (x.h + pads[0] + pads[2] - d * (k - 1) - 1) // s + 1
        ww = (x.w + pads[1] + pads[3] - d * (k - 1) - 1) // s + 1
        out = T(y, cout, h, ww)
        if stats is not None and not fold:
            out = self.batchnorm(out, bn, stats)
        return out

    def batchnorm(self, x, name, stats=None, gamma_scale=1.0):
        if stats is None:
            stats = self.bn_stats(x.c, gamma_scale)
        gamma, beta, mean, var = stats
        with self.scope(name):
            inputs = [x.name, self.param("weight", gamma), self.param("bias", beta),
                      self.param("running_mean", mean), self.param("running_var", var)]
            y = self.node("BatchNormalization", inputs, epsilon=1e-5, momentum=0.9)
        self.tag("batchnorm")
        return x.like(y)

    def clip(self, x, lo, hi):
        if self.opset < 11:
            self.tag("clip-attribute")
            return self.node("Clip", [x], min=float(lo), max=float(hi))
        self.tag("clip-input-constant" if self.st.const == "node" else "clip-input-initializer")
        return self.node("Clip", [x, self.const(np.array(lo, F32), "Clip"), self.const(np.array(hi, F32), "Clip")])

    def act(self, x, kind, name=None):
        if kind is None:
            return x
        with self.scope(name):
            if kind == "relu":
                self.tag("relu")
                y = self.node("Relu", [x.name])
            elif kind == "relu6":
                y = self.clip(x.name, 0.0, 6.0)
            elif kind == "leaky":
                self.tag("leakyrelu")
                y = self.node("LeakyRelu", [x.name], alpha=0.1)
            elif kind == "hsigmoid":
                self.tag("hardsigmoid")
                y = self.node("HardSigmoid", [x.name], alpha=1.0 / 6, beta=0.5)
            elif kind == "hswish":
                y = self.hswish(x.name)
            else:
                raise ValueError(kind)
        return x.like(y)

    def hswish(self, x):
        form = self.st.hswish
        if form == "op":
            assert self.opset >= 14
            self.tag("hardswish-op")
            return self.node("HardSwish", [x])
        if form == "hsig":
            self.tag("hardswish-hardsigmoid")
            hs = self.node("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)
            return self.node("Mul", [x, hs])
        self.tag("hardswish-clip-div")
        a = self.node("Add", [x, self.const(np.array(3.0, F32), "Add")])
        c = self.clip(a, 0.0, 6.0)
        m = self.node("Mul", [x, c])
        return self.node("Div", [m, self.const(np.array(6.0, F32), "Div")])

    def add(self, a, b):
        self.tag("add-residual")
        return a.like(self.node("Add", [a.name, b.name]))

    def mul(self, a, b):
        return b.like(self.node("Mul", [a.name, b.name]))

    def concat(self, xs):
        self.tag("concat")
        y = self.node("Concat", [x.name for x in xs], axis=1)
        return xs[0].like(y, sum(x.c for x in xs))

    def maxpool(self, x, k, s, p=0, ceil=False, name=None):
        attrs = dict(kernel_shape=[k, k], pads=[p] * 4, strides=[s, s])
        if self.opset >= 10:
            attrs["ceil_mode"] = int(ceil)
        else:
            assert not ceil
        with self.scope(name):
            y = self.node("MaxPool", [x.name], **attrs)
        self.tag("maxpool-ceil" if ceil else "maxpool")
        rnd = math.ceil if ceil else math.floor
        h = int(rnd((x.h + 2 * p - k) / s)) + 1
        w = int(rnd((x.w + 2 * p - k) / s)) + 1
        return T(y, x.c, h, w)

    def avgpool(self, x, k, s, p=0, count_include_pad=False, name=None):
        attrs = dict(kernel_shape=[k, k], pads=[p] * 4, strides=[s, s])
        if self.opset >= 10:
            attrs["ceil_mode"] = 0
        if p > 0 or count_include_pad:
            attrs["count_include_pad"] = int(count_include_pad)
        with self.scope(name):
            y = self.node("AveragePool", [x.name], **attrs)
        self.tag("averagepool-pads" if p else "averagepool")
        return T(y, x.c, (x.h + 2 * p - k) // s + 1, (x.w + 2 * p - k) // s + 1)

    def gap(self, x, name=None):
        with self.scope(name):
            y = self.node("GlobalAveragePool", [x.name])
        self.tag("globalaveragepool")
        return T(y, x.c, 1, 1)

    def reducemean(self, x, keepdims):
        if self.opset < 18:
            self.tag("reducemean-axes-attribute")
            y = self.node("ReduceMean", [x.name], axes=[2, 3], keepdims=keepdims)
        else:
            self.tag("reducemean-axes-input")
            y = self.node("ReduceMean", [x.name, self.const(np.array([2, 3], I64), "ReduceMean")], keepdims=keepdims)
        return T(y, x.c, 1 if keepdims else None, 1 if keepdims else None)

    def pad(self, x, top, left, bottom, right, name=None):
        pads = [0, 0, top, left, 0, 0, bottom, right]
        with self.scope(name):
            if self.opset < 11:
                self.tag("pad-attribute")
                y = self.node("Pad", [x.name], mode="constant", pads=pads, value=0.0)
            else:
                self.tag("pad-input")
                y = self.node("Pad", [x.name, self.const(np.array(pads, I64), "Pad"),
                                      self.const(np.array(0.0, F32), "Pad")], mode="constant")
        return T(y, x.c, x.h + top + bottom, x.w + left + right)

    def same_pad(self, x, k, s, name=None):
        """TensorFlow 'SAME' padding as an explicit Pad (as timm's tf_* ports write it)."""
        def amount(n):
            out = -(-n // s)
            total = max((out - 1) * s + k - n, 0)
            return total // 2, total - total // 2
        (t, b), (l, r) = amount(x.h), amount(x.w)
        return self.pad(x, t, l, b, r, name)

    # ---- shape chains -------------------------------------------------------------------------
    def unsqueeze(self, x, axes):
        if self.opset < 13:
            self.tag("unsqueeze-axes-attribute")
            return self.node("Unsqueeze", [x], axes=axes)
        self.tag("unsqueeze-axes-input")
        return self.node("Unsqueeze", [x, self.const(np.array(axes, I64), "Unsqueeze")])

    def squeeze(self, x, axes):
        if self.opset < 13:
            self.tag("squeeze-axes-attribute")
            return self.node("Squeeze", [x], axes=axes)
        self.tag("squeeze-axes-input")
        return self.node("Squeeze", [x, self.const(np.array(axes, I64), "Squeeze")])

    def dim(self, x, i):
        """x.size(i) traced: Shape -> Gather(scalar index)."""
        s = self.node("Shape", [x])
        return self.node("Gather", [s, self.const(np.array(i, I64), "Gather")], axis=0)

    def shape_of(self, parts):
        """A shape built from traced sizes (scalars, unsqueezed) and python ints (1-D constants)."""
        pieces = []
        for p in parts:
            if isinstance(p, str):
                pieces.append(self.unsqueeze(p, [0]))
            else:
                pieces.append(self.const(np.array([p], I64), "Concat"))
        return self.node("Concat", pieces, axis=0)

    def batch_dim(self):
        return 1 if self.st.batch == 1 else -1

    def shuffle(self, x, g, order="g_first"):
        """Channel shuffle. g_first: torchvision's view(N, g, C/g, H, W).transpose(1, 2);
        cpg_first: megvii ShuffleNetV1's reshape(N, C/g, g, H, W).permute(0, 2, 1, 3, 4)."""
        c, h, w = x.c, x.h, x.w
        self.tag("shuffle-" + order.replace("_", "-"), "transpose")
        if self.st.shuffle == "const":
            self.tag("shuffle-constant-shape")
            n = self.batch_dim()
            five = [n, g, c // g, h, w] if order == "g_first" else [n, c // g, g, h, w]
            four = [n, -1, h, w] if order == "g_first" and n == 1 else [n, c, h, w]
            r = self.node("Reshape", [x.name, self.const(np.array(five, I64), "Reshape")])
            t = self.node("Transpose", [r], perm=[0, 2, 1, 3, 4])
            y = self.node("Reshape", [t, self.const(np.array(four, I64), "Reshape")])
            return x.like(y)
        self.tag("shuffle-shape-chain", "shape-chain")
        n_, c_, h_, w_ = (self.dim(x.name, i) for i in range(4))
        gs = self.const(np.array(g, I64), "Div")
        if self.st.shuffle_cast:
            self.tag("cast")
            cf = self.node("Cast", [c_], to=TensorProto.FLOAT)
            q = self.node("Div", [cf, self.const(np.array(float(g), F32), "Div")])
            cpg = self.node("Cast", [q], to=TensorProto.INT64)
        else:
            cpg = self.node("Div", [c_, gs])
        five = [n_, g, cpg, h_, w_] if order == "g_first" else [n_, cpg, g, h_, w_]
        r = self.node("Reshape", [x.name, self.shape_of(five)])
        t = self.node("Transpose", [r], perm=[0, 2, 1, 3, 4])
        four = [n_, -1, h_, w_] if order == "g_first" else [n_, c_, h_, w_]
        y = self.node("Reshape", [t, self.shape_of(four)])
        return x.like(y)

    def split2(self, x):
        """x.chunk(2, dim=1) / x[:, :c//2], x[:, c//2:]: the ShuffleNetV2 channel split."""
        half = x.c // 2
        if self.st.split == "sequence":
            # torch.onnx.export(dynamo=True, optimize=False): chunk as a sequence and its items
            self.tag("split-to-sequence")
            seq = self.node("SplitToSequence", [x.name, self.const(np.array(half, I64), "split")], axis=1, keepdims=1)
            a = self.node("SequenceAt", [seq, self.const(np.array(0, I64), "getitem")])
            b = self.node("SequenceAt", [seq, self.const(np.array(1, I64), "getitem")])
            return x.like(a, half), x.like(b, half)
        if self.st.split == "split":
            if self.opset < 13:
                self.tag("split-attribute")
                a, b = self.node("Split", [x.name], n_out=2, axis=1, split=[half, half])
            elif self.opset < 18:
                self.tag("split-input")
                a, b = self.node("Split", [x.name, self.const(np.array([half, half], I64), "Split")], n_out=2, axis=1)
            else:
                self.tag("split-num-outputs")
                a, b = self.node("Split", [x.name], n_out=2, axis=1, num_outputs=2)
            return x.like(a, half), x.like(b, half)
        if self.opset < 10:
            self.tag("slice-attribute")
            a = self.node("Slice", [x.name], axes=[1], ends=[half], starts=[0])
            b = self.node("Slice", [x.name], axes=[1], ends=[INT64_MAX], starts=[half])
            return x.like(a, half), x.like(b, half)
        # chunk(2, dim=1) traced without constant folding: split size = (C + 1) // 2
        self.tag("slice-shape-arithmetic", "shape-chain")
        c_ = self.dim(x.name, 1)
        t = self.node("Add", [c_, self.const(np.array(1, I64), "Add")])
        size = self.node("Div", [t, self.const(np.array(2, I64), "Div")])
        e0 = self.node("Mul", [size, self.const(np.array(1, I64), "Mul")])
        e1 = self.node("Mul", [size, self.const(np.array(2, I64), "Mul")])
        s0, u0, u1 = self.const(np.array([0], I64), "Slice"), self.unsqueeze(e0, [0]), self.unsqueeze(e1, [0])
        axes = self.const(np.array([1], I64), "Slice")
        extra = [self.const(np.array([1], I64), "Slice")] if self.st.slice_steps else []
        a = self.node("Slice", [x.name, s0, u0, axes] + extra)
        b = self.node("Slice", [x.name, u0, u1, axes] + extra)
        return x.like(a, half), x.like(b, half)

    # ---- classifier -------------------------------------------------------------------------
    def flatten(self, x, form=None):
        form = form or self.st.flatten
        if form == "flatten":
            self.tag("flatten")
            y = self.node("Flatten", [x.name], axis=1)
        elif form in ("reshape", "reshape_c"):
            # x.view(1, -1) / x.view(-1, C) (megvii), the shape a constant
            self.tag("reshape-constant")
            shape = [1, -1] if self.st.batch == 1 and form == "reshape" else [-1, x.c * x.h * x.w]
            y = self.node("Reshape", [x.name, self.const(np.array(shape, I64), "Reshape")])
        elif form == "chain":
            self.tag("reshape-shape-chain", "shape-chain")
            y = self.node("Reshape", [x.name, self.shape_of([self.dim(x.name, 0), -1])])
        elif form == "squeeze":
            assert x.h == 1 and x.w == 1
            y = self.squeeze(x.name, [2, 3])
        else:
            raise ValueError(form)
        return T(y, x.c * x.h * x.w)

    def dropout(self, x, ratio, name=None):
        if not self.st.dropout:
            return x
        with self.scope(name):
            if self.opset < 12:
                self.tag("dropout-ratio-attribute")
                y = self.node("Dropout", [x.name], ratio=float(ratio))
            else:
                self.tag("dropout-ratio-input")
                y = self.node("Dropout", [x.name, self.const(np.array(ratio, F32), "Dropout")])
        return x.like(y)

    def identity(self, x):
        if not self.st.identity:
            return x
        self.tag("identity")
        return x.like(self.node("Identity", [x.name]))

    def linear(self, x, out, bias=True, name=None, gain=1.0):
        w = self.normal(math.sqrt(gain / x.c), (out, x.c))
        b = self.rng.normal(0.0, 0.1, out).astype(F32) if bias else None
        w = (w * F32(self.scales.get(len(self.layers), 1.0))).astype(F32)
        first_init = len(self.inits)
        with self.scope(name):
            if self.st.fc == "matmul":
                # dynamo: aten.linear -> Transpose(weight) -> MatMul -> Add
                self.tag("matmul-add", "transpose")
                wt = self.node("Transpose", [self.param("weight", w)], perm=[1, 0])
                y = self.node("MatMul", [x.name, wt])
                if bias:
                    y = self.node("Add", [y, self.param("bias", b)])
            elif bias:
                self.tag("gemm")
                y = self.node("Gemm", [x.name, self.param("weight", w), self.param("bias", b)],
                              alpha=1.0, beta=1.0, transB=1)
            elif self.st.fold_bn:
                # bias-free Linear -> matmul(x, weight.t()) with the transpose constant-folded
                self.tag("matmul-folded-weight")
                y = self.node("MatMul", [x.name, self.folded("MatMul", np.ascontiguousarray(w.T))])
            else:
                self.tag("matmul-transpose-weight", "transpose")
                wt = self.node("Transpose", [self.param("weight", w)], perm=[1, 0])
                y = self.node("MatMul", [x.name, wt])
        if self.calib:
            assert not self.st.fold_bn and self.st.fc == "gemm"
            self.layers.append((self.inits[first_init].name, w, y, None if b is None else b.reshape(1, -1)))
        else:
            self.layers.append(None)
        return T(y, out)

    def index_select(self, x, index):
        """torch.index_select(x, 1, index): Gather(axis=1) with an int64 index buffer."""
        self.tag("gather-index-select")
        y = self.node("Gather", [x.name, self.param("index", np.asarray(index, I64))], axis=1)
        return T(y, len(index), x.h, x.w)


# ======================================================================================
# The networks. Each takes (g, x, **config) and returns the classifier output.
# ======================================================================================

def mobilenet_v1(g, x, width=1.0, classes=1000, mid=5, pool="gap"):
    c = lambda v: max(8, int(v * width))
    with g.scope("model", 0):
        x = g.conv(x, c(32), 3, 2, name="0", bn="1")
        x = g.act(x, "relu6", "2")
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * mid + [(1024, 2), (1024, 1)]
    for i, (o, s) in enumerate(cfg, 1):
        with g.scope("model", i):
            x = g.conv(x, x.c, 3, s, g=x.c, name="0", bn="1")
            x = g.act(x, "relu6", "2")
            x = g.conv(x, c(o), 1, name="3", bn="4")
            x = g.act(x, "relu6", "5")
    x = g.avgpool(x, x.h, x.h, name="pool") if pool == "avg" else g.gap(x, "pool")
    x = g.flatten(x)
    x = g.dropout(x, 0.001, "dropout")
    return g.linear(x, classes, name="fc")


def mbv2_block(g, x, oup, stride, t, act="relu6", k=3):
    inp = x.c
    hidden = int(round(inp * t))
    y = x
    with g.scope("conv"):
        i = 0
        if t != 1:
            with g.scope(i):
                y = g.act(g.conv(y, hidden, 1, name="0", bn="1"), act, "2")
            i += 1
        with g.scope(i):
            y = g.act(g.conv(y, hidden, k, stride, g=hidden, name="0", bn="1"), act, "2")
        y = g.conv(y, oup, 1, name=str(i + 1), bn=str(i + 2), gain=1.0)
    if stride == 1 and inp == oup:
        y = g.add(x, y)
    return y


def mobilenet_v2(g, x, width=1.0, classes=1000, depth=1.0, last_channel=1280, divisor=8):
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    with g.scope("features", 0):
        x = g.act(g.conv(x, make_divisible(32 * width, divisor), 3, 2, name="0", bn="1"), "relu6", "2")
    idx = 1
    for t, c, n, s in settings:
        out = make_divisible(c * width, divisor)
        for i in range(max(1, int(math.ceil(n * depth)))):
            with g.scope("features", idx):
                x = mbv2_block(g, x, out, s if i == 0 else 1, t)
            idx += 1
    with g.scope("features", idx):
        x = g.act(g.conv(x, last_channel, 1, name="0", bn="1"), "relu6", "2")
    x = g.gap(x)
    x = g.flatten(x)
    with g.scope("classifier"):
        x = g.dropout(x, 0.2, "0")
        x = g.identity(x)
        return g.linear(x, classes, name="1")


MBV3_LARGE = [  # input, kernel, expanded, out, SE, activation, stride, dilation (torchvision)
    (16, 3, 16, 16, False, "relu", 1, 1), (16, 3, 64, 24, False, "relu", 2, 1), (24, 3, 72, 24, False, "relu", 1, 1),
    (24, 5, 72, 40, True, "relu", 2, 1), (40, 5, 120, 40, True, "relu", 1, 1), (40, 5, 120, 40, True, "relu", 1, 1),
    (40, 3, 240, 80, False, "hswish", 2, 1), (80, 3, 200, 80, False, "hswish", 1, 1),
    (80, 3, 184, 80, False, "hswish", 1, 1), (80, 3, 184, 80, False, "hswish", 1, 1),
    (80, 3, 480, 112, True, "hswish", 1, 1), (112, 3, 672, 112, True, "hswish", 1, 1),
    (112, 5, 672, 160, True, "hswish", 2, 2), (160, 5, 960, 160, True, "hswish", 1, 2),
    (160, 5, 960, 160, True, "hswish", 1, 2)]
MBV3_SMALL = [
    (16, 3, 16, 16, True, "relu", 2, 1), (16, 3, 72, 24, False, "relu", 2, 1), (24, 3, 88, 24, False, "relu", 1, 1),
    (24, 5, 96, 40, True, "hswish", 2, 1), (40, 5, 240, 40, True, "hswish", 1, 1), (40, 5, 240, 40, True, "hswish", 1, 1),
    (40, 5, 120, 48, True, "hswish", 1, 1), (48, 5, 144, 48, True, "hswish", 1, 1),
    (48, 5, 288, 96, True, "hswish", 2, 2), (96, 5, 576, 96, True, "hswish", 1, 2), (96, 5, 576, 96, True, "hswish", 1, 2)]


def squeeze_excite(g, x, squeeze):
    """torchvision SqueezeExcitation(scale_activation=Hardsigmoid): scale * input."""
    if g.st.se == "gap":
        g.tag("se-globalaveragepool")
        p = g.gap(x, "avgpool")
    else:
        g.tag("se-reducemean")
        p = g.reducemean(x, keepdims=1)
    s = g.conv(p, squeeze, 1, bias=True, name="fc1")
    s = g.act(s, "relu", "activation")
    s = g.conv(s, x.c, 1, bias=True, name="fc2", gain=1.0)
    s = g.act(s, "hsigmoid", "scale_activation")
    return g.mul(s, x)


def mobilenet_v3(g, x, arch="large", width=1.0, classes=1000, last_channel=None, dilated=False, keep=None,
                 divisor=8):
    confs = MBV3_LARGE if arch == "large" else MBV3_SMALL
    if last_channel is None:
        last_channel = 1280 if arch == "large" else 1024
    c = lambda v: make_divisible(v * width, divisor)
    with g.scope("features", 0):
        x = g.act(g.conv(x, c(16), 3, 2, name="0", bn="1"), "hswish", "2")
    idx = 1
    for i, (inp, k, exp, out, se, act, stride, dil) in enumerate(confs):
        if keep is not None and i not in keep:
            continue
        dil = dil if dilated else 1
        exp, out = c(exp), c(out)
        with g.scope("features", idx, "block"):
            y = x
            j = 0
            if exp != x.c:
                with g.scope(j):
                    y = g.act(g.conv(y, exp, 1, name="0", bn="1"), act, "2")
                j += 1
            with g.scope(j):
                y = g.act(g.conv(y, exp, k, 1 if dil > 1 else stride, g=exp, d=dil, name="0", bn="1"), act, "2")
            j += 1
            if se:
                with g.scope(j):
                    y = squeeze_excite(g, y, make_divisible(exp // 4, divisor))
                j += 1
            with g.scope(j):
                y = g.conv(y, out, 1, name="0", bn="1", gain=1.0)
        if stride == 1 and x.c == out:
            y = g.add(x, y)
        x = y
        idx += 1
    with g.scope("features", idx):
        x = g.act(g.conv(x, 6 * x.c, 1, name="0", bn="1"), "hswish", "2")
    x = g.gap(x, "avgpool")
    x = g.flatten(x)
    with g.scope("classifier"):
        x = g.linear(x, last_channel, name="0", gain=2.0)
        x = g.act(x, "hswish", "1")
        x = g.dropout(x, 0.2, "2")
        x = g.identity(x)
        return g.linear(x, classes, name="3")


def shufflenet_v1(g, x, group=3, channels=(24, 240, 480, 960), repeats=(4, 8, 4), classes=1000):
    """megvii ShuffleNetV1 (ShuffleNet-Series): shuffle after the first 1x1 group conv,
    stride-2 units concatenate a 3x3 average-pooled shortcut."""
    with g.scope("first_conv"):
        x = g.act(g.conv(x, channels[0], 3, 2, name="0", bn="1"), "relu", "2")
    x = g.maxpool(x, 3, 2, 1, name="maxpool")
    idx = 0
    for s, n in enumerate(repeats):
        oup = channels[s + 1]
        for i in range(n):
            stride = 2 if i == 0 else 1
            first_group = s == 0 and i == 0
            mid = oup // 4
            outputs = oup - x.c if stride == 2 else oup
            with g.scope("features", idx):
                with g.scope("branch_main_1"):
                    y = g.act(g.conv(x, mid, 1, g=1 if first_group else group, name="0", bn="1"), "relu", "2")
                y = g.shuffle(y, group, "cpg_first")
                with g.scope("branch_main_2"):
                    y = g.conv(y, mid, 3, stride, g=mid, name="0", bn="1")
                    y = g.conv(y, outputs, 1, g=group, name="2", bn="3", gain=1.0)
                if stride == 1:
                    x = g.act(g.add(y, x), "relu")
                else:
                    p = g.avgpool(x, 3, 2, 1, count_include_pad=True, name="branch_proj")
                    x = g.concat([p, g.act(y, "relu")])
            idx += 1
    x = g.avgpool(x, x.h, x.h, name="globalpool")
    x = g.flatten(x)
    with g.scope("classifier"):
        return g.linear(x, classes, bias=False, name="0")


def shufflenet_v2(g, x, channels=(24, 116, 232, 464, 1024), repeats=(4, 8, 4), classes=1000, head="mean"):
    """torchvision ShuffleNetV2: chunk(2) channel split, concat, channel_shuffle(g=2)."""
    with g.scope("conv1"):
        x = g.act(g.conv(x, channels[0], 3, 2, name="0", bn="1"), "relu", "2")
    x = g.maxpool(x, 3, 2, 1, name="maxpool")
    for s, n in enumerate(repeats):
        oup = channels[s + 1]
        bf = oup // 2
        for i in range(n):
            stride = 2 if i == 0 else 1
            with g.scope(f"stage{s + 2}", i):
                if stride == 1:
                    x1, x2 = g.split2(x)
                else:
                    x1 = x2 = x
                    with g.scope("branch1"):
                        x1 = g.conv(x1, x1.c, 3, 2, g=x1.c, name="0", bn="1")
                        x1 = g.act(g.conv(x1, bf, 1, name="2", bn="3"), "relu", "4")
                with g.scope("branch2"):
                    y = g.act(g.conv(x2, bf, 1, name="0", bn="1"), "relu", "2")
                    y = g.conv(y, bf, 3, stride, g=bf, name="3", bn="4")
                    y = g.act(g.conv(y, bf, 1, name="5", bn="6"), "relu", "7")
                x = g.shuffle(g.concat([x1, y]), 2, "g_first")
    with g.scope("conv5"):
        x = g.act(g.conv(x, channels[4], 1, name="0", bn="1"), "relu", "2")
    if head == "mean":  # x.mean([2, 3])
        g.tag("reducemean-head")
        x = T(g.reducemean(x, keepdims=0).name, x.c)
    else:
        x = g.flatten(g.gap(x))
    return g.linear(x, classes, name="fc")


def shufflenet_v2_megvii(g, x, channels=(24, 116, 232, 464, 1024), repeats=(4, 8, 4), classes=1000):
    """megvii ShuffleNetV2 (ShuffleNet-Series): shuffle and split fused at the start of each
    stride-1 unit: reshape(N*C/2, 2, H*W) -> permute(1, 0, 2) -> reshape(2, -1, C/2, H, W) -> x[0], x[1]."""
    assert g.st.batch == 1
    with g.scope("first_conv"):
        x = g.act(g.conv(x, channels[0], 3, 2, name="0", bn="1"), "relu", "2")
    x = g.maxpool(x, 3, 2, 1, name="maxpool")
    idx = 0
    for s, n in enumerate(repeats):
        oup = channels[s + 1]
        for i in range(n):
            stride = 2 if i == 0 else 1
            with g.scope("features", idx):
                if stride == 1:
                    g.tag("shuffle-split-gather", "transpose")
                    c, h, w = x.c, x.h, x.w
                    r = g.node("Reshape", [x.name, g.const(np.array([c // 2, 2, h * w], I64), "Reshape")])
                    t = g.node("Transpose", [r], perm=[1, 0, 2])
                    r = g.node("Reshape", [t, g.const(np.array([2, -1, c // 2, h, w], I64), "Reshape")])
                    proj = T(g.node("Gather", [r, g.const(np.array(0, I64), "Gather")], axis=0), c // 2, h, w)
                    main = T(g.node("Gather", [r, g.const(np.array(1, I64), "Gather")], axis=0), c // 2, h, w)
                    inp = c // 2
                else:
                    proj = main = x
                    inp = x.c
                    with g.scope("branch_proj"):
                        proj = g.conv(proj, inp, 3, 2, g=inp, name="0", bn="1")
                        proj = g.act(g.conv(proj, inp, 1, name="2", bn="3"), "relu", "4")
                mid = oup // 2
                with g.scope("branch_main"):
                    y = g.act(g.conv(main, mid, 1, name="0", bn="1"), "relu", "2")
                    y = g.conv(y, mid, 3, stride, g=mid, name="3", bn="4")
                    y = g.act(g.conv(y, oup - inp, 1, name="5", bn="6"), "relu", "7")
                x = g.concat([proj, y])
            idx += 1
    with g.scope("conv_last"):
        x = g.act(g.conv(x, channels[4], 1, name="0", bn="1"), "relu", "2")
    x = g.avgpool(x, x.h, x.h, name="globalpool")
    x = g.flatten(x)
    with g.scope("classifier"):
        return g.linear(x, classes, bias=False, name="0")


def squeezenet(g, x, width=1.0, classes=1000):
    """torchvision SqueezeNet 1.1."""
    c = lambda v: max(4, int(v * width))
    with g.scope("features"):
        x = g.act(g.conv(x, c(64), 3, 2, p=0, bias=True, name="0"), "relu", "1")
        x = g.maxpool(x, 3, 2, ceil=True, name="2")
        fires = {3: (16, 64), 4: (16, 64), 6: (32, 128), 7: (32, 128), 9: (48, 192), 10: (48, 192),
                 11: (64, 256), 12: (64, 256)}
        for i in range(3, 13):
            if i in (5, 8):
                x = g.maxpool(x, 3, 2, ceil=True, name=str(i))
                continue
            sq, ex = fires[i]
            with g.scope(i):
                s = g.act(g.conv(x, c(sq), 1, bias=True, name="squeeze"), "relu", "squeeze_activation")
                a = g.act(g.conv(s, c(ex), 1, bias=True, name="expand1x1"), "relu", "expand1x1_activation")
                b = g.act(g.conv(s, c(ex), 3, bias=True, name="expand3x3"), "relu", "expand3x3_activation")
                x = g.concat([a, b])
    with g.scope("classifier"):
        x = g.dropout(x, 0.5, "0")
        x = g.identity(x)
        x = g.act(g.conv(x, classes, 1, bias=True, name="1", gain=1.0), "relu", "2")
        x = g.gap(x, "3")
    return g.flatten(x)


def resnext(g, x, layers=(3, 4, 6, 3), planes=(64, 128, 256, 512), groups=32, width_per_group=4, stem=64,
            classes=1000):
    """torchvision resnext50_32x4d: Bottleneck with a 3x3 group conv of cardinality 32."""
    x = g.conv(x, stem, 7, 2, name="conv1", bn="bn1")
    x = g.act(x, "relu", "relu")
    x = g.maxpool(x, 3, 2, 1, name="maxpool")
    for li, (n, p) in enumerate(zip(layers, planes)):
        for bi in range(n):
            stride = 2 if li > 0 and bi == 0 else 1
            width = int(p * width_per_group / 64) * groups
            out = p * 4
            with g.scope(f"layer{li + 1}", bi):
                y = g.act(g.conv(x, width, 1, name="conv1", bn="bn1"), "relu", "relu")
                y = g.act(g.conv(y, width, 3, stride, g=groups, name="conv2", bn="bn2"), "relu", "relu")
                y = g.conv(y, out, 1, name="conv3", bn="bn3", gain=1.0, gamma_scale=0.5)
                if stride != 1 or x.c != out:
                    with g.scope("downsample"):
                        x = g.conv(x, out, 1, stride, name="0", bn="1", gain=1.0)
                x = g.act(g.add(y, x), "relu", "relu")
    x = g.flatten(g.gap(x, "avgpool"))
    return g.linear(x, classes, name="fc")


def xception(g, x, widths=(32, 64, 128, 256, 728, 1024, 1536, 2048), middle=8, classes=1000, same_pad=False):
    """Xception (Cadene/timm legacy layout): entry flow, middle flow of 3-separable-conv
    residual blocks, exit flow; 1x1 stride-2 conv shortcuts."""
    c32, c64, c128, c256, c728, c1024, c1536, c2048 = widths

    def sepconv(x, cout, name, bn, gamma_scale=1.0):
        """SeparableConv2d (depthwise 3x3 -> pointwise 1x1) and the BatchNorm2d after it."""
        y = g.conv(x, x.c, 3, 1, g=x.c, name=(name, "conv1"))
        return g.conv(y, cout, 1, name=(name, "pointwise"), bn=bn, gamma_scale=gamma_scale)

    def block(x, cin, cout, reps, stride, start_with_relu, grow_first, name):
        with g.scope(name):
            outs = [cout] * reps if grow_first else [cin] * (reps - 1) + [cout]
            y = x
            k = 0
            with g.scope("rep"):
                for i, o in enumerate(outs):
                    if i > 0 or start_with_relu:
                        y = g.act(y, "relu", str(k))
                        k += 1
                    y = sepconv(y, o, str(k), bn=str(k + 1), gamma_scale=0.5)
                    k += 2
                if stride != 1:
                    y = g.maxpool(y, 3, stride, 1, name=str(k))
            skip = x
            if cout != cin or stride != 1:
                skip = g.conv(x, cout, 1, stride, name="skip", bn="skipbn", gain=1.0)
            return g.add(y, skip)

    if same_pad:
        x = g.same_pad(x, 3, 2, name="pad")
    x = g.act(g.conv(x, c32, 3, 2, p=0, name="conv1", bn="bn1"), "relu", "relu1")
    x = g.act(g.conv(x, c64, 3, 1, p=0, name="conv2", bn="bn2"), "relu", "relu2")
    x = block(x, c64, c128, 2, 2, False, True, "block1")
    x = block(x, c128, c256, 2, 2, True, True, "block2")
    x = block(x, c256, c728, 2, 2, True, True, "block3")
    for i in range(middle):
        x = block(x, c728, c728, 3, 1, True, True, f"block{4 + i}")
    x = block(x, c728, c1024, 2, 2, True, False, f"block{4 + middle}")
    x = g.act(sepconv(x, c1536, "conv3", bn="bn3"), "relu", "relu3")
    x = g.act(sepconv(x, c2048, "conv4", bn="bn4"), "relu", "relu4")
    x = g.flatten(g.gap(x))
    return g.linear(x, classes, name="last_linear")


def tinydarknet(g, x, width=1.0, classes=1000):
    """Darknet's reference tiny net (cfg/tiny.cfg): conv+BN+leaky(0.1), 2x2 max pools,
    1x1 squeeze / 3x3 expand pairs, a linear 1x1 conv to the classes, avgpool, softmax."""
    c = lambda v: max(8, int(v * width))
    cfg = [(16, 3), "M", (32, 3), "M", (16, 1), (128, 3), (16, 1), (128, 3), "M", (32, 1), (256, 3), (32, 1),
           (256, 3), "M", (64, 1), (512, 3), (64, 1), (512, 3), (128, 1)]
    for i, l in enumerate(cfg):
        with g.scope("models", i):
            if l == "M":
                x = g.maxpool(x, 2, 2, name="maxpool")
            else:
                o, k = l
                x = g.act(g.conv(x, c(o), k, name="conv", bn="bn"), "leaky", "leaky")
    with g.scope("models", len(cfg)):
        x = g.conv(x, classes, 1, bias=True, name="conv", gain=1.0)
    x = g.flatten(g.gap(x, "avgpool"))
    g.tag("softmax-opset13" if g.opset >= 13 else "softmax-2d")
    return T(g.node("Softmax", [x.name], axis=1), x.c)


def condensenet(g, x, stages=(4, 6, 8, 10, 8), growth=(8, 16, 32, 64, 128), bottleneck=4, group_1x1=4,
                group_3x3=4, condense_factor=4, classes=1000):
    """CondenseNet, converted for inference (ShichenLiu/CondenseNet condensenet_converted.py):
    each 1x1 learned group conv is index_select -> BN -> ReLU -> Conv(groups=4) -> shuffle."""
    with g.scope("features"):
        x = g.conv(x, 2 * growth[0], 3, 2, name="init_conv")
        for i, (n, k) in enumerate(zip(stages, growth)):
            for j in range(n):
                with g.scope(f"denseblock_{i + 1}", f"denselayer_{j + 1}"):
                    inp = x
                    with g.scope("conv_1"):
                        per_group = x.c // condense_factor
                        index = np.concatenate([np.sort(g.rng.choice(x.c, per_group, replace=False))
                                                for _ in range(group_1x1)])
                        y = g.index_select(x, index)
                        y = g.act(g.batchnorm(y, "norm"), "relu", "relu")
                        g.tag("preactivation-bn")
                        y = g.conv(y, bottleneck * k, 1, g=group_1x1, name="conv")
                        y = g.shuffle(y, group_1x1, "g_first")
                    with g.scope("conv_2"):
                        y = g.act(g.batchnorm(y, "norm"), "relu", "relu")
                        y = g.conv(y, k, 3, g=group_3x3, name="conv", gain=1.0)
                    x = g.concat([inp, y])
            if i < len(stages) - 1:
                with g.scope(f"transition_{i + 1}"):
                    x = g.avgpool(x, 2, 2, name="pool")
        x = g.act(g.batchnorm(x, "norm_last"), "relu", "relu_last")
        x = g.avgpool(x, x.h, x.h, name="pool_last")
    x = g.flatten(x)
    with g.scope("classifier"):
        index = np.sort(g.rng.choice(x.c, x.c // 2, replace=False))
        x = g.index_select(x, index)
        return g.linear(x, classes, name="linear")


def igc_v1(g, x, channels=(64, 128, 256, 512), blocks=(2, 2, 2, 2), L=4, classes=1000):
    """Interleaved group convolutions (IGCv1) in a ResNet-18 layout: each conv of a basic
    block is primary 3x3 group conv (L groups of M channels) -> permutation -> secondary 1x1
    group conv (M groups of L channels) -> permutation back."""
    def igc(x, cout, stride, name, bn, gamma_scale=1.0):
        with g.scope(name):
            M = cout // L
            y = g.conv(x, cout, 3, stride, g=L, name="primary")
            y = g.shuffle(y, L, "g_first")
            y = g.conv(y, cout, 1, g=M, name="secondary")
            y = g.shuffle(y, M, "g_first")
        return g.batchnorm(y, bn, gamma_scale=gamma_scale)

    x = g.act(g.conv(x, channels[0], 7, 2, name="conv1", bn="bn1"), "relu", "relu")
    x = g.maxpool(x, 3, 2, 1, name="maxpool")
    for li, (c, n) in enumerate(zip(channels, blocks)):
        for bi in range(n):
            stride = 2 if li > 0 and bi == 0 else 1
            with g.scope(f"layer{li + 1}", bi):
                y = g.act(igc(x, c, stride, "igc1", "bn1"), "relu", "relu")
                y = igc(y, c, 1, "igc2", "bn2", gamma_scale=0.5)
                if stride != 1 or x.c != c:
                    with g.scope("downsample"):
                        x = g.conv(x, c, 1, stride, name="0", bn="1", gain=1.0)
                x = g.act(g.add(y, x), "relu", "relu")
    x = g.flatten(g.gap(x, "avgpool"))
    return g.linear(x, classes, name="fc")


def igc_v2(g, x, width=1.0, classes=1000, mid=5, g1=8):
    """IGCv2 in a MobileNetV1 layout: each separable block is a chain of structured sparse
    convolutions, 3x3 channel-wise -> permutation -> 1x1 group conv -> permutation -> 1x1
    group conv, meeting the complementary condition."""
    c = lambda v: max(8, int(v * width))
    x = g.act(g.conv(x, c(32), 3, 2, name="conv1", bn="bn1"), "relu", "relu")
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * mid + [(1024, 2), (1024, 1)]
    for i, (o, s) in enumerate(cfg):
        o = c(o)
        with g.scope("blocks", i):
            y = g.conv(x, x.c, 3, s, g=x.c, name="dw", bn="bn_dw")
            ga = min(g1, x.c // 2)        # first 1x1 group conv: ga groups of o/ga channels
            y = g.shuffle(y, ga, "g_first")
            y = g.conv(y, o, 1, g=ga, name="gconv1", gain=1.0)
            y = g.shuffle(y, ga, "g_first")  # each group of the second conv takes one channel per group
            y = g.conv(y, o, 1, g=o // ga, name="gconv2", bn="bn")
            x = g.act(y, "relu", "relu")
    x = g.flatten(g.gap(x, "avgpool"))
    x = g.dropout(x, 0.2, "dropout")
    return g.linear(x, classes, name="fc")


def igc_v3(g, x, width=1.0, classes=1000, depth=1.0, last_channel=1280, groups=2, divisor=8):
    """IGCv3: MobileNetV2 inverted residuals with interleaved low-rank group convs: group 1x1
    expand -> permutation -> 3x3 depthwise -> group 1x1 linear projection -> permutation."""
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    with g.scope("features", 0):
        x = g.act(g.conv(x, make_divisible(32 * width, divisor), 3, 2, name="0", bn="1"), "relu6", "2")
    idx = 1
    for t, c, n, s in settings:
        out = make_divisible(c * width, divisor)
        for i in range(max(1, int(math.ceil(n * depth)))):
            stride = s if i == 0 else 1
            with g.scope("features", idx):
                inp = x
                hidden = make_divisible(x.c * t, divisor)
                with g.scope("conv"):
                    y = g.act(g.conv(x, hidden, 1, g=groups, name="0", bn="1"), "relu6", "2")
                    y = g.shuffle(y, groups, "g_first")
                    y = g.act(g.conv(y, hidden, 3, stride, g=hidden, name="3", bn="4"), "relu6", "5")
                    y = g.conv(y, out, 1, g=groups, name="6", bn="7", gain=1.0)
                    y = g.shuffle(y, out // groups, "g_first")
                if stride == 1 and inp.c == out:
                    y = g.add(inp, y)
                x = y
            idx += 1
    with g.scope("features", idx):
        x = g.act(g.conv(x, last_channel, 1, name="0", bn="1"), "relu6", "2")
    x = g.flatten(g.gap(x))
    with g.scope("classifier"):
        x = g.dropout(x, 0.2, "0")
        return g.linear(x, classes, name="1")


def mnasnet(g, x, width=1.0, classes=1000):
    """torchvision mnasnet1_0 (MNASNet-B1): inverted residuals with 3x3/5x5 depthwise, ReLU."""
    d = lambda v: make_divisible(v * width, 8)
    with g.scope("layers"):
        x = g.act(g.conv(x, d(32), 3, 2, name="0", bn="1"), "relu", "2")
        x = g.act(g.conv(x, x.c, 3, 1, g=x.c, name="3", bn="4"), "relu", "5")
        x = g.conv(x, d(16), 1, name="6", bn="7", gain=1.0)
        idx = 8
        for (c, k, s, t, n) in [(24, 3, 2, 3, 3), (40, 5, 2, 3, 3), (80, 5, 2, 6, 3), (96, 3, 1, 6, 2),
                                (192, 5, 2, 6, 4), (320, 3, 1, 6, 1)]:
            for i in range(n):
                with g.scope(idx, i):
                    x = mbv2_block(g, x, d(c), s if i == 0 else 1, t, act="relu", k=k)
            idx += 1
        x = g.act(g.conv(x, 1280, 1, name=str(idx), bn=str(idx + 1)), "relu", str(idx + 2))
    x = g.reducemean(x, keepdims=0)
    x = T(x.name, x.c)
    with g.scope("classifier"):
        x = g.dropout(x, 0.2, "0")
        return g.linear(x, classes, name="1")


NETWORKS = {
    "MobileNetV1": mobilenet_v1, "MobileNetV2": mobilenet_v2,
    "MobileNetV3-Large": lambda g, x, **k: mobilenet_v3(g, x, "large", **k),
    "MobileNetV3-Small": lambda g, x, **k: mobilenet_v3(g, x, "small", **k),
    "ShuffleNetV1": shufflenet_v1, "ShuffleNetV2": shufflenet_v2, "ShuffleNetV2-megvii": shufflenet_v2_megvii,
    "SqueezeNet": squeezenet, "ResNeXt": resnext, "Xception": xception, "TinyDarkNet": tinydarknet,
    "CondenseNet": condensenet, "IGCv1": igc_v1, "IGCv2": igc_v2, "IGCv3": igc_v3, "MNASNet": mnasnet,
}


# ======================================================================================
# The samples
# ======================================================================================

@dataclass(frozen=True)
class Spec:
    name: str
    network: str
    opset: int
    res: int
    config: dict
    style: Style
    calib_res: int = 0  # resolution of the weight-scale calibration (default: res)


TS = Style()                                            # TorchScript, do_constant_folding=False
FOLD = Style(fold_bn=True, const="init")                # TorchScript, do_constant_folding=True
DYN = Style(dynamo=True, const="init", fc="matmul", batch="batch")   # dynamo exporter


def sym(style):
    return replace(style, batch="batch")


MBV1 = dict(width=0.2, mid=2, classes=10)
MBV2 = dict(width=0.25, depth=0.5, last_channel=128, classes=10)
MBV3L = dict(width=0.2, last_channel=96, classes=10, keep=(0, 1, 3, 4, 6, 7, 10, 12, 13))
MBV3S = dict(width=0.35, last_channel=96, classes=10, keep=(0, 1, 2, 3, 4, 6, 7, 8, 9))
SHV1 = dict(channels=(24, 60, 120, 240), repeats=(1, 2, 1), classes=10)
SHV2 = dict(channels=(24, 32, 64, 128, 192), repeats=(2, 3, 2), classes=10)
SQZ = dict(width=0.25, classes=10)
RNX = dict(layers=(1, 2, 1, 1), planes=(8, 16, 24, 32), groups=32, width_per_group=8, stem=16, classes=10)
XCP = dict(widths=(8, 16, 24, 48, 64, 96, 128, 160), middle=2, classes=10)
TDN = dict(width=0.25, classes=10)
CDN = dict(stages=(2, 2, 3, 3, 2), growth=(4, 8, 8, 16, 16), classes=10)
IGC1 = dict(channels=(16, 32, 48, 64), blocks=(1, 1, 1, 1), L=4, classes=10)
IGC2 = dict(width=0.25, mid=2, g1=4, classes=10)
IGC3 = dict(width=0.25, depth=0.5, last_channel=128, classes=10)

SAMPLES = [
    Spec("mobilenetv1_op9", "MobileNetV1", 9, 96, dict(MBV1, pool="avg"), replace(TS, flatten="chain")),
    Spec("mobilenetv1_op13_folded", "MobileNetV1", 13, 96, MBV1, sym(FOLD)),
    Spec("mobilenetv2_op9", "MobileNetV2", 9, 96, MBV2, replace(TS, dropout=True)),
    Spec("mobilenetv2_op13", "MobileNetV2", 13, 96, MBV2, replace(TS, flatten="chain", dropout=True, batch="batch")),
    Spec("mobilenetv2_op17_folded", "MobileNetV2", 17, 96, MBV2, replace(FOLD, flatten="reshape", identity=True)),
    Spec("mobilenetv3large_op10", "MobileNetV3-Large", 10, 96, MBV3L, replace(TS, hswish="hsig", dropout=True)),
    Spec("mobilenetv3large_op14_folded", "MobileNetV3-Large", 14, 96, MBV3L, sym(FOLD)),
    Spec("mobilenetv3large_op18_dilated", "MobileNetV3-Large", 18, 96, dict(MBV3L, dilated=True),
         replace(DYN, se="reducemean", dropout=True)),
    Spec("mobilenetv3small_op9", "MobileNetV3-Small", 9, 96, MBV3S, replace(TS, hswish="clip", se="reducemean",
                                                                              flatten="squeeze")),
    Spec("mobilenetv3small_op13", "MobileNetV3-Small", 13, 96, MBV3S,
         replace(TS, hswish="clip", se="reducemean", flatten="squeeze", identity=True, batch="batch")),
    Spec("shufflenetv1_op9", "ShuffleNetV1", 9, 96, SHV1, replace(TS, flatten="reshape_c")),
    Spec("shufflenetv1_op13_folded", "ShuffleNetV1", 13, 96, SHV1, replace(FOLD, shuffle="chain", flatten="reshape_c",
                                                                          batch="batch")),
    Spec("shufflenetv2_op9", "ShuffleNetV2", 9, 96, SHV2, replace(TS, split="slice")),
    Spec("shufflenetv2_op11", "ShuffleNetV2", 11, 96, SHV2, replace(TS, shuffle="chain", shuffle_cast=True)),
    Spec("shufflenetv2_op11_megvii", "ShuffleNetV2", 11, 96, SHV2, replace(TS, flatten="reshape_c")),
    Spec("shufflenetv2_op13_folded", "ShuffleNetV2", 13, 96, dict(SHV2, head="gap"), FOLD),
    Spec("shufflenetv2_op17_slice", "ShuffleNetV2", 17, 96, SHV2,
         replace(TS, split="slice", slice_steps=True, shuffle="chain", batch="batch")),
    Spec("shufflenetv2_op18", "ShuffleNetV2", 18, 96, SHV2, DYN),
    Spec("shufflenetv2_op18_noopt", "ShuffleNetV2", 18, 96, SHV2, replace(DYN, const="node", split="sequence")),
    Spec("squeezenet_op10", "SqueezeNet", 10, 96, SQZ, replace(TS, dropout=True, inits_as_inputs=True)),
    Spec("squeezenet_op13", "SqueezeNet", 13, 96, SQZ, replace(TS, dropout=True, identity=True, batch="batch")),
    Spec("resnext50_op9", "ResNeXt", 9, 64, RNX, TS),
    Spec("resnext50_op13_folded", "ResNeXt", 13, 64, RNX, sym(FOLD)),
    Spec("xception_op10", "Xception", 10, 96, dict(XCP, same_pad=True), replace(TS, flatten="chain")),
    Spec("xception_op17_folded", "Xception", 17, 96, dict(XCP, same_pad=True), replace(FOLD, flatten="chain")),
    Spec("tinydarknet_op9", "TinyDarkNet", 9, 64, TDN, TS),
    Spec("tinydarknet_op13_folded", "TinyDarkNet", 13, 64, TDN, sym(FOLD)),
    Spec("condensenet_op9", "CondenseNet", 9, 96, CDN, replace(TS, flatten="chain")),
    Spec("condensenet_op13", "CondenseNet", 13, 96, CDN, replace(TS, flatten="chain", shuffle="chain", batch="batch")),
    Spec("igcv1_op9", "IGCv1", 9, 64, IGC1, TS),
    Spec("igcv1_op13_folded", "IGCv1", 13, 64, IGC1, replace(FOLD, shuffle="chain")),
    Spec("igcv2_op10", "IGCv2", 10, 96, IGC2, replace(TS, dropout=True)),
    Spec("igcv2_op15", "IGCv2", 15, 96, IGC2, replace(TS, dropout=True, batch="batch")),
    Spec("igcv3_op9", "IGCv3", 9, 96, IGC3, TS),
    Spec("igcv3_op18", "IGCv3", 18, 96, IGC3, DYN),
    Spec("mobilenetv2_op18_functions", "MobileNetV2", 18, 96, MBV2, replace(DYN, functions=True)),
]

FULL_STYLE = Style(fold_bn=True, const="init")  # torch.onnx.export defaults (constant folding), opset 14
FULL = [
    Spec("mobilenetv1", "MobileNetV1", 14, 224, {}, FULL_STYLE),
    Spec("mobilenetv2", "MobileNetV2", 14, 224, {}, FULL_STYLE),
    Spec("mobilenetv3_large", "MobileNetV3-Large", 14, 224, {}, FULL_STYLE),
    Spec("mobilenetv3_small", "MobileNetV3-Small", 14, 224, {}, FULL_STYLE),
    Spec("shufflenetv1_g3", "ShuffleNetV1", 14, 224, {}, FULL_STYLE),
    Spec("shufflenetv2_x1_0", "ShuffleNetV2", 14, 224, {}, FULL_STYLE),
    Spec("shufflenetv2_x0_5", "ShuffleNetV2", 14, 224, dict(channels=(24, 48, 96, 192, 1024)), FULL_STYLE),
    Spec("squeezenet1_1", "SqueezeNet", 14, 224, {}, FULL_STYLE),
    Spec("resnext50_32x4d", "ResNeXt", 14, 224, {}, FULL_STYLE, calib_res=160),
    Spec("xception", "Xception", 14, 299, {}, FULL_STYLE, calib_res=160),
    Spec("tinydarknet", "TinyDarkNet", 14, 224, {}, FULL_STYLE),
    Spec("condensenet", "CondenseNet", 14, 224, {}, FULL_STYLE),
    Spec("igcv1", "IGCv1", 14, 224, {}, FULL_STYLE, calib_res=160),
    Spec("igcv2", "IGCv2", 14, 224, {}, FULL_STYLE),
    Spec("igcv3", "IGCv3", 14, 224, {}, FULL_STYLE),
    Spec("mnasnet1_0", "MNASNet", 14, 224, {}, FULL_STYLE),
]

# Every one of these must appear in at least one committed sample.
REQUIRED_PATTERNS = [
    "conv-pads", "conv-stride", "conv-depthwise", "conv-group", "conv-dilation", "conv-bias", "conv-no-bias",
    "batchnorm", "bn-folded", "preactivation-bn", "clip-attribute", "clip-input-constant", "clip-input-initializer",
    "relu", "leakyrelu", "shuffle-g-first", "shuffle-cpg-first", "shuffle-constant-shape", "shuffle-shape-chain",
    "split-attribute", "split-input", "split-num-outputs", "split-to-sequence", "slice-attribute", "slice-shape-arithmetic",
    "hardswish-op", "hardswish-hardsigmoid", "hardswish-clip-div", "se-globalaveragepool", "se-reducemean",
    "reducemean-axes-attribute", "reducemean-axes-input", "gather-index-select", "dropout-ratio-attribute",
    "dropout-ratio-input", "identity", "flatten", "reshape-constant", "reshape-shape-chain", "gemm", "matmul-add",
    "maxpool", "maxpool-ceil", "averagepool", "averagepool-pads", "globalaveragepool", "softmax-2d",
    "softmax-opset13", "add-residual", "concat", "pad-attribute", "pad-input", "batch-symbolic", "batch-fixed",
    "unsqueeze-axes-attribute", "unsqueeze-axes-input", "squeeze-axes-attribute", "squeeze-axes-input", "cast",
    "constant-nodes", "constant-initializers", "value-info", "initializers-as-inputs",
    "local-functions", "if-constant-condition", "attribute-references",
]


TORCHLIB = "pkg.onnxscript.torch_lib"
FUNCTIONS_VERSION = "2.3.1"     # producer_version of the dynamo_export samples with local functions


def attribute_ref(name, ref, kind):
    """An attribute of a function body's node that takes the calling node's attribute `ref`."""
    a = onnx.AttributeProto()
    a.name, a.ref_attr_name, a.type = name, ref, kind
    return a


def ref_node(op, inputs, outputs, refs=(), **attrs):
    n = helper.make_node(op, inputs, outputs, **attrs)
    n.attribute.extend(attribute_ref(name, ref, kind) for name, ref, kind in refs)
    return n


def branch(name, nodes, output):
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])


def rank_guard(output, op, value, k, names):
    """`If(no_batch)`: then `op(value, [0])` (add or drop the batch axis), else `value` as it is."""
    axes, then_out, else_out = names
    return helper.make_node("If", ["no_batch"], [output],
                            then_branch=branch(f"thenGraph_{k}", [
                                helper.make_node("Constant", [], [axes], value_ints=[0]),
                                helper.make_node(op, [value, axes], [then_out])], then_out),
                            else_branch=branch(f"elseGraph_{k}", [
                                helper.make_node("Identity", [value], [else_out])], else_out))


def torchlib_functions():
    """The torchlib functions of torch.onnx.dynamo_export (torch 2.1-2.4), as it wrote them."""
    A = onnx.AttributeProto
    conv = helper.make_function(TORCHLIB, "_aten_convolution_onnx", ["input", "weight", "bias"], ["result_12"], [
        helper.make_node("Shape", ["input"], ["tmp"]),
        helper.make_node("Size", ["tmp"], ["tmp_0"]),
        helper.make_node("Shape", ["weight"], ["tmp_1"]),
        helper.make_node("Size", ["tmp_1"], ["tmp_2"]),
        helper.make_node("Equal", ["tmp_0", "tmp_2"], ["tmp_3"]),
        helper.make_node("Not", ["tmp_3"], ["no_batch"]),
        rank_guard("input_3", "Unsqueeze", "input", 4, ("tmp_4", "input_1", "input_2")),
        ref_node("Conv", ["input_3", "weight", "bias"], ["result"],
                 [("dilations", "dilations", A.INTS), ("group", "groups", A.INT), ("pads", "pads", A.INTS),
                  ("strides", "strides", A.INTS)]),
        rank_guard("result_12", "Squeeze", "result", 9, ("tmp_5", "result_10", "result_11")),
    ], [helper.make_opsetid("", 18)], attributes=["dilations", "groups", "pads", "strides"])
    relu = helper.make_function(TORCHLIB, "aten_relu", ["self"], ["return_val"],
                                [helper.make_node("Relu", ["self"], ["return_val"])], [helper.make_opsetid("", 18)])
    hardtanh = helper.make_function(TORCHLIB, "aten_hardtanh", ["self"], ["return_val"], [
        ref_node("Constant", [], ["min_val"], [("value_float", "min_val", A.FLOAT)]),
        helper.make_node("CastLike", ["min_val", "self"], ["min_val_0"]),
        ref_node("Constant", [], ["max_val"], [("value_float", "max_val", A.FLOAT)]),
        helper.make_node("CastLike", ["max_val", "self"], ["max_val_1"]),
        helper.make_node("Clip", ["self", "min_val_0", "max_val_1"], ["return_val"]),
    ], [helper.make_opsetid("", 18)], attributes=["min_val", "max_val"])
    add = helper.make_function(TORCHLIB, "aten_add", ["self", "other"], ["return_val"], [
        ref_node("Constant", [], ["alpha"], [("value_float", "alpha", A.FLOAT)]),
        helper.make_node("CastLike", ["alpha", "other"], ["alpha_0"]),
        helper.make_node("Mul", ["other", "alpha_0"], ["other_1"]),
        helper.make_node("Add", ["self", "other_1"], ["return_val"]),
    ], [helper.make_opsetid("", 18)], attribute_protos=[helper.make_attribute("alpha", 1.0)])
    bn = helper.make_function(TORCHLIB, "_aten_native_batch_norm_inference_onnx",
                              ["input", "weight", "bias", "running_mean", "running_var"],
                              ["norm", "empty_mean", "empty_var"], [
        ref_node("BatchNormalization", ["input", "weight", "bias", "running_mean", "running_var"], ["norm"],
                 [("epsilon", "eps", A.FLOAT), ("momentum", "momentum", A.FLOAT)]),
        helper.make_node("Shape", ["input"], ["tmp"], start=0, end=0),
        helper.make_node("CastLike", ["tmp", "norm"], ["empty_mean"]),
        helper.make_node("Identity", ["empty_mean"], ["empty_var"]),
    ], [helper.make_opsetid("", 18)], attributes=["eps", "momentum"])
    return [conv, relu, hardtanh, add, bn]


def outline_functions(model, g):
    """Rewrites a dynamo-style graph as torch.onnx.dynamo_export (torch 2.1-2.4) wrote it: each
    Conv a call to a function of its module, which calls torchlib's _aten_convolution_onnx
    (an If on the input's rank around the Conv, attributes by reference) and makes a zero bias
    when there is none; Relu, Clip, Add and BatchNormalization calls to torchlib functions."""
    version = f"pkg.torch.{FUNCTIONS_VERSION}"
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    functions = torchlib_functions()
    nodes = []
    for k, n in enumerate(model.graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        name = n.name
        if n.op_type == "Conv":
            module = f"torch_nn_modules_conv_Conv2d_{k}"
            args = ["x", "weight"] + (["bias"] if len(n.input) == 3 else [])
            body = []
            if len(n.input) == 2:
                body += [helper.make_node("Shape", ["weight"], ["weight_dim_0"], start=0, end=1),
                         helper.make_node("Constant", [], ["one"], value_ints=[1]),
                         helper.make_node("Expand", ["weight_dim_0", "one"], ["bias_shape"]),
                         helper.make_node("Constant", [], ["zero_f"], value_float=0.0),
                         helper.make_node("CastLike", ["zero_f", "x"], ["zero"]),
                         helper.make_node("Expand", ["zero", "bias_shape"], ["bias"])]
            body.append(helper.make_node("_aten_convolution_onnx", ["x", "weight", "bias"], ["convolution"],
                                         domain=TORCHLIB, dilations=attrs["dilations"], groups=attrs["group"],
                                         pads=attrs["pads"], strides=attrs["strides"]))
            functions.append(helper.make_function(version, module, args, ["convolution"], body,
                                                  [helper.make_opsetid("", 18), helper.make_opsetid(TORCHLIB, 1)]))
            nodes.append(helper.make_node(module, list(n.input), list(n.output), name=name, domain=version))
        elif n.op_type == "Relu":
            nodes.append(helper.make_node("aten_relu", list(n.input), list(n.output), name=name, domain=TORCHLIB))
        elif n.op_type == "Clip" and len(n.input) == 3 and n.input[1] in inits and n.input[2] in inits:
            nodes.append(helper.make_node("aten_hardtanh", [n.input[0]], list(n.output), name=name, domain=TORCHLIB,
                                          min_val=float(inits[n.input[1]]), max_val=float(inits[n.input[2]])))
        elif n.op_type == "Add":
            nodes.append(helper.make_node("aten_add", list(n.input), list(n.output), name=name, domain=TORCHLIB))
        elif n.op_type == "BatchNormalization":
            outs = [n.output[0], f"{n.output[0]}_mean", f"{n.output[0]}_var"]
            nodes.append(helper.make_node("_aten_native_batch_norm_inference_onnx", list(n.input), outs, name=name,
                                          domain=TORCHLIB, eps=attrs["epsilon"], momentum=1.0 - attrs["momentum"]))
        else:
            nodes.append(n)
    g.tag("local-functions", "if-constant-condition", "attribute-references")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.functions.extend(functions)
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", 18), helper.make_opsetid(TORCHLIB, 1),
                               helper.make_opsetid(version, 1)])
    model.producer_version = FUNCTIONS_VERSION
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def seed_of(name, salt=0):
    return zlib.crc32(name.encode()) + salt


def construct(spec, style, opset, res, scales=None, calib=False):
    """Builds the graph and returns (model, patterns, classes, graph)."""
    st = style
    g = Graph(opset, st, seed_of(spec.name), scales, calib)
    network = "ShuffleNetV2-megvii" if spec.name.endswith("_megvii") else spec.network
    y = NETWORKS[network](g, T("input", 3, res, res), **spec.config)
    for n in g.nodes:  # the classifier's value becomes the graph output "output"
        for i, o in enumerate(n.output):
            if o == y.name:
                n.output[i] = "output"
    g.layers = [l if l is None or l[2] != y.name else l[:2] + ("output",) + l[3:] for l in g.layers]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [st.batch, 3, res, res])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [st.batch, y.c])]
    if calib:
        inputs += [helper.make_tensor_value_info(l[0], TensorProto.FLOAT, list(l[1].shape)) for l in g.layers]
        outputs += [helper.make_tensor_value_info(l[2], TensorProto.FLOAT, None) for l in g.layers
                    if l[2] != "output"]
    elif st.inits_as_inputs:
        g.tag("initializers-as-inputs")
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in g.inits]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pytorch",
                              producer_version=DYNAMO_VERSION if st.dynamo else TORCHSCRIPT_VERSION,
                              ir_version=IR_VERSION[opset])
    model.doc_string = (f"Kite sample {spec.name}: {spec.network} with seeded random weights, written by "
                        "Samples/generate.py in the form PyTorch's "
                        + ("dynamo" if st.dynamo else "TorchScript") + " ONNX exporter produces.")
    if st.functions and not calib:
        model = outline_functions(model, g)
    elif st.dynamo and not calib:
        g.tag("value-info")
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    g.tag("batch-symbolic" if st.batch != 1 else "batch-fixed")
    return model, sorted(g.patterns), y.c, g


def calibrate(spec, res, threads=1):
    """Layer-sequential unit-variance scaling (LSUV): walking the convs and linears in
    order, rescale each weight so that its output (before BatchNorm and bias) has unit std
    on a seeded input. The random BatchNorm statistics stay as drawn, so BN is no identity,
    and activations stay O(1) through the whole net. Runs on a calibration copy of the graph
    (TorchScript form, BN unfolded, weights fed as inputs) at resolution res."""
    st = replace(spec.style, fold_bn=False, dynamo=False, fc="gemm", batch=1, inits_as_inputs=False)
    opset = max(spec.opset, 14)
    model, _, _, g = construct(spec, st, opset, res, calib=True)
    sess = ort_session(model.SerializeToString(), threads)
    feeds = {"input": np.random.default_rng(seed_of(spec.name, 2)).standard_normal((1, 3, res, res)).astype(F32)}
    for wname, w, _, _ in g.layers:
        feeds[wname] = w
    scales = {}
    for i, (wname, w, out, b) in enumerate(g.layers):
        v = sess.run([out], feeds)[0]
        if b is not None:
            v = v - b
        sd = float(np.std(v))
        s = 2.0 ** (round(math.log2(1.0 / sd) * 32) / 32) if sd > 1e-12 else 1.0  # machine-independent steps
        scales[i] = s
        feeds[wname] = (w * F32(s)).astype(F32)
    return scales


def build(spec, threads=1):
    """Calibrates, builds, validates and returns (model, patterns, classes)."""
    scales = calibrate(spec, spec.calib_res or spec.res, threads)
    model, patterns, classes, _ = construct(spec, spec.style, spec.opset, spec.res, scales)
    onnx.checker.check_model(model, full_check=True)
    return model, patterns, classes


def ort_session(model_bytes, threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def count(model):
    ops = {}
    for n in model.graph.node:
        op = f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
        ops[op] = ops.get(op, 0) + 1
    params = sum(int(np.prod(t.dims, dtype=np.int64)) for t in model.graph.initializer)
    return len(model.graph.node), dict(sorted(ops.items())), params


def activation_stats(model, x):
    """Std of every float value in the graph (debugging the weight scales)."""
    m = onnx.shape_inference.infer_shapes(model)
    known = {o.name for o in m.graph.output}
    for vi in m.graph.value_info:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT and vi.name not in known:
            m.graph.output.append(vi)
    sess = ort_session(m.SerializeToString())
    names = [o.name for o in sess.get_outputs()]
    vals = sess.run(names, {"input": x})
    producer = {o: n for n in m.graph.node for o in n.output}
    out = []
    for name, v in zip(names, vals):
        n = producer.get(name)
        out.append((float(np.std(v)), n.op_type if n else "?", name))
    return out


def check_output(name, out, softmax):
    std = float(np.std(out))
    if not np.all(np.isfinite(out)):
        raise SystemExit(f"{name}: non-finite output")
    if softmax:
        if out.max() > 0.98 or std < 1e-3:
            raise SystemExit(f"{name}: softmax saturated or flat (max {out.max():.3f}, std {std:.4f})")
    elif not 0.02 < std < 50:
        raise SystemExit(f"{name}: output std {std:.4g} is not O(1)")
    return std


def write_samples(root, only=None, stats=False):
    manifest = []
    seen = set()
    specs = [s for s in SAMPLES if only is None or s.name in only]
    for spec in specs:
        model, patterns, classes = build(spec)
        data = model.SerializeToString()
        x = np.random.default_rng(seed_of(spec.name, 1)).standard_normal((1, 3, spec.res, spec.res)).astype(F32)
        y = ort_session(data).run(["output"], {"input": x})[0].astype(F32)
        assert y.shape == (1, classes), (spec.name, y.shape)
        std = check_output(spec.name, y, spec.network == "TinyDarkNet")
        if stats:
            st = activation_stats(model, x)
            stds = sorted(s for s, _, _ in st)
            worst = sorted(st)[:3] + sorted(st)[-3:]
            print(f"  {spec.name}: value std min {stds[0]:.3g} median {stds[len(stds) // 2]:.3g} max {stds[-1]:.3g}")
            for s, op, n in worst:
                print(f"      {s:.3g} {op} {n}")
        folder = os.path.join(root, spec.name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(os.path.join(folder, "inputs"))
        os.makedirs(os.path.join(folder, "outputs"))
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(data)
        np.save(os.path.join(folder, "inputs", "input.npy"), x)
        np.save(os.path.join(folder, "outputs", "output.npy"), y)
        nodes, ops, params = count(model)
        seen.update(patterns)
        manifest.append({
            "name": spec.name, "network": spec.network, "opset": spec.opset,
            "exporter": "dynamo" if spec.style.dynamo else "torchscript",
            "inputs": {"input": list(x.shape)}, "outputs": {"output": list(y.shape)},
            "dynamic_batch": spec.style.batch != 1,
            "patterns": patterns, "nodes": nodes, "ops": ops, "parameters": params,
            "model_bytes": len(data), "output_std": round(std, 4),
        })
        print(f"{spec.name:32s} {len(data) / 1024:7.1f} KB  {nodes:4d} nodes  {params:7d} params  std {std:.3f}")
    if only is None:
        missing = [p for p in REQUIRED_PATTERNS if p not in seen]
        if missing:
            raise SystemExit(f"patterns missing from every sample: {missing}")
        for spec in SAMPLES:
            pass
        opsets = {}
        for e in manifest:
            opsets.setdefault(e["network"], []).append(e["opset"])
        for net, ops in opsets.items():
            if not (min(ops) < 11 and max(ops) >= 13):
                raise SystemExit(f"{net}: needs an opset below 11 and one of 13 or above, has {ops}")
        for d in sorted(os.listdir(root)):  # stale samples from an earlier table
            if os.path.isfile(os.path.join(root, d, "model.onnx")) and d not in {s.name for s in SAMPLES}:
                shutil.rmtree(os.path.join(root, d))
        doc = {
            "generator": "Samples/generate.py",
            "parameters_definition": "sum of the element counts of the graph initializers (Constant nodes not counted)",
            "nodes_definition": "number of nodes in the main graph, Constant nodes included",
            "samples": manifest,
        }
        with open(os.path.join(root, "manifest.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    total = sum(e["model_bytes"] for e in manifest)
    print(f"{len(manifest)} samples, models {total / 1024 / 1024:.2f} MB")


def write_full(root, run=True):
    os.makedirs(root, exist_ok=True)
    manifest = []
    for spec in FULL:
        model, patterns, classes = build(spec, threads=2)
        data = model.SerializeToString()
        path = os.path.join(root, spec.name + ".onnx")
        with open(path, "wb") as f:
            f.write(data)
        nodes, ops, params = count(model)
        line = f"{spec.name:20s} {len(data) / 1e6:7.1f} MB {nodes:5d} nodes {params / 1e6:6.2f}M params"
        if run:
            x = np.random.default_rng(seed_of(spec.name, 1)).standard_normal((1, 3, spec.res, spec.res)).astype(F32)
            y = ort_session(data, 2).run(["output"], {"input": x})[0]
            line += f"  output std {check_output(spec.name, y, spec.network == 'TinyDarkNet'):.3f}"
        print(line, flush=True)
        manifest.append({"name": spec.name, "network": spec.network, "opset": spec.opset, "file": spec.name + ".onnx",
                         "inputs": {"input": [1, 3, spec.res, spec.res]}, "outputs": {"output": [1, classes]},
                         "nodes": nodes, "ops": ops, "parameters": params, "patterns": patterns})
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"generator": "Samples/generate.py --full", "models": manifest}, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="write full-size models (224 px, 1000 classes)")
    ap.add_argument("--out", help="output folder (default: Samples/, the folder of this script)")
    ap.add_argument("--only", nargs="*", help="samples to write (no manifest is written then)")
    ap.add_argument("--stats", action="store_true", help="print the std of every value (weight-scale debugging)")
    ap.add_argument("--no-run", action="store_true", help="--full: skip the onnxruntime smoke run")
    args = ap.parse_args()
    if args.full:
        write_full(args.out or os.path.join("bench", "models"), run=not args.no_run)
    else:
        write_samples(args.out or os.path.dirname(os.path.abspath(__file__)), set(args.only) if args.only else None,
                      args.stats)


if __name__ == "__main__":
    main()
