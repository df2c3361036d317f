"""``to_torch``: an nnlegacy module as the ``torch.nn.Module`` computing the same thing."""

from __future__ import annotations

import torch
from torch import nn as tn

import nnlegacy as nn

from . import torch_layers as L
from ._common import child_path, lookup, no_counterpart, numpy

CONVERTERS = {}
POOLS = {}  # id(an nn pooling module that a max-unpooling refers to): its torch module


def converts(*classes, note=""):
    def deco(fn):
        for c in classes:
            CONVERTERS[c] = (fn, note)
        return fn

    return deco


def _t(a):
    return torch.from_numpy(numpy(a))


def _p(a):
    return tn.Parameter(_t(a))


def to_torch(module):
    """The ``torch.nn.Module`` that computes what ``module`` computes, weights copied.

    Containers become ``torch.nn.Sequential`` or the table containers of
    ``nnlegacy.export.torch_layers``; the result takes the same (batched or not) input,
    in the module's dtype, and is in training mode exactly when ``module.train`` is.
    Raises ``ExportError`` naming the first module (and its place) that has no
    counterpart.
    """
    POOLS.clear()
    unpools = module.findModules("nn.SpatialMaxUnpooling") if hasattr(module, "findModules") else []
    POOLS.update({id(u.pooling): None for u in unpools})
    try:
        out = _convert(module, "")
    finally:
        POOLS.clear()
    out.train(bool(getattr(module, "train", True)))
    return out


def _convert(m, path):
    entry = lookup(CONVERTERS, m)
    if entry is None:
        raise no_counterpart(m, path, "PyTorch")
    return entry[0](m, path)


def _children(m, path):
    return [_convert(c, child_path(path, i)) for i, c in enumerate(m.modules)]


# ---- containers and tables ----


@converts(nn.Sequential, nn.Maxout, nn.LayerNormalization, note="torch.nn.Sequential")
def _sequential(m, path):
    return tn.Sequential(*_children(m, path))


@converts(nn.Concat, note="torch.cat of the branches")
def _concat(m, path):
    return L.Concat(_children(m, path), m.dimension, False)


@converts(nn.DepthConcat, note="branches zero-padded to the centre, then torch.cat")
def _depthconcat(m, path):
    return L.Concat(_children(m, path), m.dimension, True)


@converts(nn.ConcatTable, note="list of branch outputs")
def _concattable(m, path):
    return L.ConcatTable(_children(m, path))


@converts(nn.ParallelTable, note="branch i on input[i]")
def _paralleltable(m, path):
    return L.ParallelTable(_children(m, path))


@converts(nn.Parallel, note="select, branches, torch.cat")
def _parallel(m, path):
    return L.Parallel(_children(m, path), m.inputDimension, m.outputDimension)


@converts(nn.CAddTable, note="sum of the list")
def _caddtable(m, path):
    return L.CAddTable()


@converts(nn.JoinTable, note="torch.cat")
def _jointable(m, path):
    return L.JoinTable(m.dimension, getattr(m, "nInputDims", None))


# ---- linear, convolution, pooling, normalisation ----


@converts(nn.Linear, note="torch.nn.Linear")
def _linear(m, path):
    w = numpy(m.weight)
    bias = getattr(m, "bias", None)
    lin = tn.Linear(w.shape[1], w.shape[0], bias=bias is not None, dtype=_dtype(w))
    lin.weight = _p(w)
    if bias is not None:
        lin.bias = _p(bias)
    return lin


@converts(nn.LinearWeightNorm, note="torch.nn.Linear, weight norm parametrization (g, v)")
def _linearwn(m, path):
    v = numpy(m.v)
    lin = tn.Linear(v.shape[1], v.shape[0], bias=m.bias is not None, dtype=_dtype(v))
    if m.bias is not None:
        lin.bias = _p(m.bias)
    lin.weight = _p(v)
    lin = tn.utils.parametrizations.weight_norm(lin, dim=0)
    with torch.no_grad():
        lin.parametrizations.weight.original0.copy_(_t(m.g))
        lin.parametrizations.weight.original1.copy_(_t(v))
    return lin


@converts(nn.Bilinear, note="torch.nn.Bilinear on the table {x1, x2}")
def _bilinear(m, path):
    w = numpy(m.weight)
    bl = tn.Bilinear(w.shape[1], w.shape[2], w.shape[0], bias=m.bias is not None, dtype=_dtype(w))
    bl.weight = _p(w)
    if m.bias is not None:
        bl.bias = _p(m.bias)
    return L.TableApply(bl)


@converts(nn.LookupTable, note="torch.nn.Embedding on index - 1")
def _lookup(m, path):
    w = numpy(m.weight)
    pad = m.paddingValue - 1 if m.paddingValue and 0 < m.paddingValue <= w.shape[0] else None
    emb = tn.Embedding(
        w.shape[0],
        w.shape[1],
        padding_idx=pad,
        max_norm=m.maxNorm,
        norm_type=m.normType or 2.0,
        scale_grad_by_freq=bool(m.shouldScaleGradByFreq),
        dtype=_dtype(w),
    )
    emb.weight = _p(w)
    return tn.Sequential(L.Pointwise("add", -1), L.Pointwise("long"), emb)


def _conv_layer(cls, m, *args, **kwargs):
    """A ``torch.nn`` convolution ``cls`` shaped as ``m``, holding ``m``'s weight (reshaped
    to PyTorch's layout) and bias; ``args`` are kernel, stride, padding (and dilation)."""
    c = cls(
        m.nInputPlane,
        m.nOutputPlane,
        *args,
        bias=m.bias is not None,
        dtype=_dtype(numpy(m.weight)),
        **kwargs,
    )
    c.weight = _p(numpy(m.weight).reshape(c.weight.shape))
    if m.bias is not None:
        c.bias = _p(m.bias)
    return c


@converts(nn.SpatialConvolution, nn.SpatialConvolutionMM, note="torch.nn.Conv2d")
def _conv(m, path):
    return _conv_layer(
        tn.Conv2d,
        m,
        (m.kH, m.kW),
        (getattr(m, "dH", 1), getattr(m, "dW", 1)),
        (getattr(m, "padH", 0), getattr(m, "padW", 0)),
    )


@converts(nn.SpatialFullConvolution, note="torch.nn.ConvTranspose2d (adjW/adjH as output_padding)")
def _fullconv(m, path):
    return _conv_layer(
        tn.ConvTranspose2d,
        m,
        (m.kH, m.kW),
        (m.dH, m.dW),
        (m.padH, m.padW),
        output_padding=(m.adjH, m.adjW),
    )


@converts(nn.SpatialMaxPooling, note="torch.nn.MaxPool2d (ceil_mode kept)")
def _maxpool(m, path):
    if id(m) in POOLS:  # a max-unpooling reads its indices
        pool = L.MaxPool(_maxpool_plain(m))
        POOLS[id(m)] = pool
        return pool
    return _maxpool_plain(m)


def _maxpool_plain(m):
    return tn.MaxPool2d(
        (m.kH, m.kW),
        (m.dH, m.dW),
        (getattr(m, "padH", 0), getattr(m, "padW", 0)),
        ceil_mode=bool(getattr(m, "ceil_mode", False)),
    )


@converts(nn.SpatialAveragePooling, note="torch.nn.AvgPool2d (ceil_mode, count_include_pad)")
def _avgpool(m, path):
    return tn.AvgPool2d(
        (m.kH, m.kW),
        (m.dH, m.dW),
        (getattr(m, "padH", 0), getattr(m, "padW", 0)),
        bool(getattr(m, "ceil_mode", False)),
        count_include_pad=bool(getattr(m, "count_include_pad", True)),
    )


@converts(
    nn.SpatialCrossMapLRN, note="torch.nn.LocalResponseNorm (same constants; even size as size-1)"
)
def _lrn(m, path):
    size, alpha = m.size, m.alpha
    if size % 2 == 0:  # nnlegacy's window is c - (size-1)//2 .. c + (size-1)//2
        size, alpha = size - 1, alpha * (size - 1) / size
    return L.LRN(size, alpha, m.beta, m.k)


@converts(
    nn.BatchNormalization,
    nn.SpatialBatchNormalization,
    note="torch.nn.BatchNorm1d / 2d, running statistics copied",
)
def _batchnorm(m, path):
    mean = numpy(m.running_mean)
    var = numpy(m.running_var) if hasattr(m, "running_var") else 1 / numpy(m.running_std) ** 2
    cls = {4: tn.BatchNorm2d, 5: tn.BatchNorm3d}.get(m.nDim, tn.BatchNorm1d)
    bn = cls(mean.shape[0], m.eps, m.momentum, affine=m.weight is not None, dtype=_dtype(mean))
    if m.weight is not None:
        bn.weight, bn.bias = _p(m.weight), _p(m.bias)
    bn.running_mean.copy_(torch.from_numpy(mean))
    bn.running_var.copy_(torch.from_numpy(var))
    return bn


@converts(nn.Dropout, note="torch.nn.Dropout (v1: scaled by 1-p when evaluating)")
def _dropout(m, path):
    if getattr(m, "v2", True):
        return tn.Dropout(m.p)
    return L.SpatialDropout(m.p, spatial=False)


@converts(nn.SpatialDropout, note="planes dropped unscaled; evaluation scales by 1-p")
def _spatialdropout(m, path):
    return L.SpatialDropout(m.p, spatial=True)


# ---- activations ----


def _simple(cls, note, make):
    converts(cls, note=note)(lambda m, path: make(m))


_simple(nn.Threshold, "torch.nn.Threshold", lambda m: tn.Threshold(m.threshold, m.val))
_simple(nn.ReLU, "torch.nn.ReLU", lambda m: tn.ReLU())
_simple(nn.ReLU6, "torch.nn.ReLU6", lambda m: tn.ReLU6())
_simple(nn.Tanh, "torch.nn.Tanh", lambda m: tn.Tanh())
_simple(nn.Sigmoid, "torch.nn.Sigmoid", lambda m: tn.Sigmoid())
_simple(nn.HardTanh, "torch.nn.Hardtanh", lambda m: tn.Hardtanh(m.min_val, m.max_val))
_simple(nn.Clamp, "torch.nn.Hardtanh", lambda m: tn.Hardtanh(m.min_val, m.max_val))
_simple(nn.LeakyReLU, "torch.nn.LeakyReLU", lambda m: tn.LeakyReLU(m.negval))
_simple(nn.ELU, "torch.nn.ELU", lambda m: tn.ELU(m.alpha))
_simple(nn.SoftPlus, "torch.nn.Softplus", lambda m: tn.Softplus(m.beta, m.threshold))
_simple(nn.SoftSign, "torch.nn.Softsign", lambda m: tn.Softsign())
_simple(nn.LogSigmoid, "torch.nn.LogSigmoid", lambda m: tn.LogSigmoid())
_simple(nn.TanhShrink, "torch.nn.Tanhshrink", lambda m: tn.Tanhshrink())
_simple(nn.HardShrink, "torch.nn.Hardshrink", lambda m: tn.Hardshrink(m.__dict__["lambda"]))
_simple(nn.SoftShrink, "torch.nn.Softshrink", lambda m: tn.Softshrink(m.__dict__["lambda"]))
_simple(nn.RReLU, "torch.nn.RReLU", lambda m: tn.RReLU(m.lower, m.upper))
_simple(nn.SoftMax, "softmax over Lua's dim for the rank", lambda m: L.LuaSoftMax())
_simple(nn.SpatialSoftMax, "softmax over the planes", lambda m: L.LuaSoftMax())
_simple(nn.LogSoftMax, "log_softmax over Lua's dim", lambda m: L.LuaSoftMax(log=True))
_simple(nn.SpatialLogSoftMax, "log_softmax over the planes", lambda m: L.LuaSoftMax(log=True))
_simple(nn.SoftMin, "softmax(-x) over Lua's dim", lambda m: L.LuaSoftMax(negate=True))
_simple(nn.GatedLinearUnit, "torch.nn.functional.glu", lambda m: L.Apply("glu", m.dim))
_simple(nn.PReLU, "PReLU on THNN's planes", lambda m: L.PReLU(_t(m.weight), m.nOutputPlane))


@converts(nn.CReLU, note="torch.cat((relu(x), relu(-x)), feature dim)")
def _crelu(m, path):
    return L.Apply("crelu", m.nInputDims)


# ---- arithmetic and misc ----

_simple(nn.Abs, "torch.abs", lambda m: L.Pointwise("abs"))
_simple(nn.Square, "x * x", lambda m: L.Pointwise("square"))
_simple(nn.Sqrt, "torch.sqrt", lambda m: L.Pointwise("sqrt"))
_simple(nn.Power, "torch.pow", lambda m: L.Pointwise("pow", m.pow))
_simple(nn.Exp, "torch.exp", lambda m: L.Pointwise("exp"))
_simple(nn.Log, "torch.log", lambda m: L.Pointwise("log"))
_simple(nn.AddConstant, "x + c", lambda m: L.Pointwise("add", m.constant_scalar))
_simple(nn.MulConstant, "x * c", lambda m: L.Pointwise("mul", m.constant_scalar))
_simple(nn.Add, "x + bias (Lua's layout)", lambda m: L.Scale(_t(m.bias), False, "bias"))
_simple(nn.CAdd, "x + bias (Lua's layout)", lambda m: L.Scale(_t(m.bias), False, "bias"))
_simple(nn.Mul, "x * weight", lambda m: L.Scale(_t(m.weight), True))
_simple(nn.CMul, "x * weight (Lua's layout)", lambda m: L.Scale(_t(m.weight), True))
_simple(nn.Identity, "torch.nn.Identity", lambda m: tn.Identity())
_simple(nn.Contiguous, "torch.nn.Identity", lambda m: tn.Identity())
_simple(nn.ZeroGrad, "x.detach()", lambda m: L.Pointwise("zerograd"))
_simple(
    nn.GradientReversal,
    "identity, gradient * -lambda",
    lambda m: L.Pointwise("gradrev", m.__dict__["lambda"]),
)
_simple(nn.Normalize, "x / p-norm of the row", lambda m: L.Normalize(m.p, m.eps))
_simple(nn.Constant, "the constant", lambda m: L.Constant(_t(m.value), m.nInputDim))
_simple(nn.OneHot, "torch.nn.functional.one_hot(x - 1)", lambda m: L.Apply("onehot", m.outputSize))
_simple(nn.Euclidean, "|| x - w_j ||", lambda m: L.Euclidean(_t(m.weight)))
_simple(
    nn.WeightedEuclidean,
    "|| diagCov_j (x - w_j) ||",
    lambda m: L.Euclidean(_t(m.weight), _t(m.diagCov)),
)
_simple(nn.DotProduct, "row-wise dot product", lambda m: L.Apply("dot"))
_simple(nn.PairwiseDistance, "row-wise p-norm of x1 - x2", lambda m: L.Apply("pairwise", m.norm))
_simple(nn.CosineDistance, "row-wise cosine similarity", lambda m: L.Apply("cosine"))
_simple(nn.MM, "torch.matmul", lambda m: L.Apply("mm", (bool(m.transA), bool(m.transB))))
_simple(nn.MV, "torch.matmul", lambda m: L.Apply("mv", bool(m.trans)))


@converts(nn.NaN, note="the wrapped module")
def _nan(m, path):
    return _convert(m.modules[0], child_path(path, 0))


@converts(nn.Cosine, note="cosine similarity with each template")
def _cosine(m, path):
    return L.CosineTemplates(_t(m.weight))


# ---- shape, layout, indexing, reduction ----

_simple(
    nn.View,
    "reshape, batch dim inferred",
    lambda m: L.View(m.size, getattr(m, "numInputDims", None)),
)
_simple(
    nn.Reshape,
    "reshape, batch dim kept",
    lambda m: L.Reshape(m.size, getattr(m, "batchMode", None)),
)
_simple(nn.Squeeze, "squeeze", lambda m: L.Shaped("squeeze", m.dim, m.numInputDims))
_simple(nn.Unsqueeze, "unsqueeze", lambda m: L.Shaped("unsqueeze", m.pos, m.numInputDims))
_simple(nn.Collapse, "flatten", lambda m: L.Shaped("collapse", None, m.nInputDim))
_simple(nn.Transpose, "transpose", lambda m: L.Transpose(m.permutations, m.numInputDims))
_simple(nn.Replicate, "unsqueeze + expand", lambda m: L.Replicate(m.nfeatures, m.dim, m.ndim))
_simple(nn.PixelShuffle, "torch.nn.PixelShuffle", lambda m: tn.PixelShuffle(m.upscaleFactor))
_simple(nn.Narrow, "torch.narrow", lambda m: L.Narrow(m.dimension, m.index, m.length))
_simple(nn.Select, "torch.select", lambda m: L.Select(m.dimension, m.index))
_simple(nn.Index, "torch.index_select(index - 1)", lambda m: L.Apply("index", m.dimension))
_simple(nn.MaskedSelect, "torch.masked_select", lambda m: L.Apply("maskedselect"))
_simple(
    nn.Padding,
    "torch.cat with a filled block",
    lambda m: L.Padding(m.dim, m.pad, m.nInputDim, m.value, m.index),
)
_simple(
    nn.SpatialZeroPadding,
    "torch.nn.ZeroPad2d (negative pads crop)",
    lambda m: tn.ZeroPad2d((m.pad_l, m.pad_r, m.pad_t, m.pad_b)),
)
_simple(
    nn.Sum,
    "torch.sum / mean",
    lambda m: L.Sum(m.dimension, m.nInputDims, bool(m.sizeAverage), m.squeeze),
)
_simple(
    nn.Mean,
    "torch.mean",
    lambda m: L.Sum(m.dimension, m.nInputDims, bool(m.sizeAverage), m.squeeze),
)
_simple(nn.Max, "torch.amax", lambda m: L.MaxMin(m.dimension, m.nInputDims))
_simple(nn.Min, "torch.amin", lambda m: L.MaxMin(m.dimension, m.nInputDims, minimum=True))


def _dtype(a):
    return {"float32": torch.float32, "float64": torch.float64}.get(str(a.dtype), torch.float32)


def notes():
    """{class name: what it becomes} for every module ``to_torch`` converts."""
    return {c.__name__: note for c, (fn, note) in CONVERTERS.items()}


from . import _torch_more  # noqa: E402, F401  (registers more converters)
