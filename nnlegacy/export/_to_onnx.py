"""``to_onnx``: an nnlegacy module written as an ONNX graph with the ``onnx`` package.

No PyTorch involved. The module (a copy, in evaluate mode) is run once on a sample
input of ``input_shape``; every module's sizes are then known, so Lua's
rank-dependent choices (SoftMax's dim, View's batch, DepthConcat's centring, Narrow's
range ...) become fixed ONNX attributes. The first dimension stays symbolic (``N``)
wherever it is the batch, so the graph runs any batch size.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import nnlegacy as nn

from .. import backend as B
from ..arithmetic import _lay_over
from ._common import ExportError, child_path, lookup, no_counterpart, numpy

OPSET = 17
EMITTERS = {}
POOLS = {}  # id(a pooling module a max-unpooling refers to): (indices name, input name)


def emits(*classes, note=""):
    def deco(fn):
        for c in classes:
            EMITTERS[c] = (fn, note)
        return fn

    return deco


class Val:
    """A tensor of the graph: its name and the sample value the nnlegacy module gave."""

    def __init__(self, name, sample):
        self.name, self.sample = name, numpy(sample)

    @property
    def ndim(self):
        return self.sample.ndim

    @property
    def shape(self):
        return self.sample.shape


class Graph:
    def __init__(self, batch):
        self.nodes, self.inits, self.count = [], [], 0
        self.batch = batch  # the sample's batch size, or None when the graph is static

    def fresh(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, a, hint="c", dtype=np.float32):
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(a, dtype=dtype), name))
        return name

    def ints(self, values, hint="i"):
        return self.const(np.asarray(values, np.int64), hint, np.int64)

    def op(self, op_type, inputs, n_out=1, **attrs):
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def target(self, shape):
        """A Reshape target for ``shape``: -1 for a leading batch dim."""
        shape = list(shape)
        if self.batch is not None and shape and shape[0] == self.batch:
            if all(s > 0 for s in shape[1:]):
                shape[0] = -1
        return self.ints(shape, "shape")

    def reshape(self, name, shape):
        return self.op("Reshape", [name, self.target(shape)])


def to_onnx(module, input_shape, path=None, *, sample=None, dynamic_batch=True, opset=OPSET):
    """Writes ``module`` as an ONNX graph (float32) taking inputs of ``input_shape``.

    ``input_shape``: the shape of one input, batch first (``(1, 3, 224, 224)``), or a
    list of shapes for a table input. ``sample``: the input (or list) used to find the
    sizes, for modules that need particular values (indices); by default uniform in
    [0.1, 1). With ``dynamic_batch`` the first dimension is named ``N`` and may vary.
    Returns the checked ``onnx.ModelProto``, saved to ``path`` when given.
    Raises ``ExportError`` naming a module with no ONNX counterpart here.
    """
    table = isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], int)
    shapes = [tuple(int(s) for s in sh) for sh in (input_shape if table else [input_shape])]
    _check_supported(module, "")
    net = copy.deepcopy(module).type("torch.FloatTensor").evaluate()  # the graph's precision
    if sample is None:
        rng = np.random.default_rng(0)
        xs = [rng.uniform(0.1, 1.0, sh) for sh in shapes]
    else:
        xs = [np.asarray(B.to_numpy(s)) for s in (sample if table else [sample])]
    xs = [x.astype(np.int64 if x.dtype.kind in "iub" else np.float32) for x in xs]
    if dynamic_batch and all(x.ndim and x.shape[0] == 1 for x in xs):
        # a batch of one is where Lua drops the batch dim (View, Reshape): find the sizes
        # on a batch of two, so that the graph keeps the batch dim for every N
        xs = [np.concatenate([x, x]) for x in xs]
    net.forward(xs if table else xs[0])

    POOLS.clear()
    batch = xs[0].shape[0] if dynamic_batch and xs[0].ndim else None
    g = Graph(batch)
    names = [f"input{i + 1}" if table else "input" for i in range(len(shapes))]
    inputs = [Val(n, x) for n, x in zip(names, xs)]
    try:
        out = _emit(net, inputs if table else inputs[0], g, "")
    finally:
        POOLS.clear()
    outs = out if isinstance(out, list) else [out]

    def info(name, shape, elem=TensorProto.FLOAT):
        dims = [
            ("N" if batch is not None and i == 0 and d == batch else d) for i, d in enumerate(shape)
        ]
        return helper.make_tensor_value_info(name, elem, dims)

    out_names = ["output"] if len(outs) == 1 else [f"output{i + 1}" for i in range(len(outs))]
    for o, n in zip(outs, out_names):
        g.nodes.append(helper.make_node("Identity", [o.name], [n]))
    graph = helper.make_graph(
        g.nodes,
        "nnlegacy",
        [
            info(n, x.shape, TensorProto.INT64 if x.dtype.kind == "i" else TensorProto.FLOAT)
            for n, x in zip(names, xs)
        ],
        [info(n, o.shape) for n, o in zip(out_names, outs)],
        g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="nnlegacy"
    )
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save(model, str(path))
    return model


def _check_supported(m, path):
    """Raise before running anything when some module cannot be written."""
    if lookup(EMITTERS, m) is None:
        raise no_counterpart(m, path, "ONNX")
    for i, c in enumerate(getattr(m, "modules", None) or []):
        _check_supported(c, child_path(path, i))


def _emit(m, x, g, path):
    fn = lookup(EMITTERS, m)[0]
    out = fn(m, x, g, path)
    if isinstance(out, list):
        return [o if isinstance(o, Val) else Val(o, s) for o, s in zip(out, m.output)]
    return out if isinstance(out, Val) else Val(out, m.output)


def _out(m):
    return numpy(m.output)


# ---- containers and tables ----


@emits(nn.Sequential, nn.Maxout, note="the chain")
def _sequential(m, x, g, path):
    for i, c in enumerate(m.modules):
        x = _emit(c, x, g, child_path(path, i))
    return x


def _branches(m, x, g, path):
    return [_emit(c, x, g, child_path(path, i)) for i, c in enumerate(m.modules)]


@emits(nn.Concat, note="Concat")
def _concat(m, x, g, path):
    return g.op("Concat", [o.name for o in _branches(m, x, g, path)], axis=m.dimension - 1)


@emits(nn.DepthConcat, note="Pad (centred), Concat")
def _depthconcat(m, x, g, path):
    outs = _branches(m, x, g, path)
    ax = m.dimension - 1
    size = [max(o.shape[d] for o in outs) for d in range(outs[0].ndim)]
    names = []
    for o in outs:
        lo = [0 if d == ax else (size[d] - o.shape[d]) // 2 for d in range(o.ndim)]
        hi = [0 if d == ax else size[d] - o.shape[d] - lo[d] for d in range(o.ndim)]
        names.append(g.op("Pad", [o.name, g.ints(lo + hi)]) if any(lo + hi) else o.name)
    return g.op("Concat", names, axis=ax)


@emits(nn.ConcatTable, note="a list of the branches")
def _concattable(m, x, g, path):
    return _branches(m, x, g, path)


@emits(nn.ParallelTable, note="branch i on input[i]")
def _paralleltable(m, x, g, path):
    return [_emit(c, xi, g, child_path(path, i)) for i, (c, xi) in enumerate(zip(m.modules, x))]


@emits(nn.Parallel, note="Gather, branches, Concat")
def _parallel(m, x, g, path):
    ax = m.inputDimension - 1
    outs = []
    for i, c in enumerate(m.modules):
        xi = Val(g.op("Gather", [x.name, g.ints(i)], axis=ax), np.take(x.sample, i, ax))
        outs.append(_emit(c, xi, g, child_path(path, i)))
    return g.op("Concat", [o.name for o in outs], axis=m.outputDimension - 1)


@emits(nn.CAddTable, note="Add")
def _caddtable(m, x, g, path):
    acc = x[0].name
    for v in x[1:]:
        name = v.name if v.shape == x[0].shape else g.reshape(v.name, x[0].shape)
        acc = g.op("Add", [acc, name])
    return acc


@emits(nn.JoinTable, note="Concat")
def _jointable(m, x, g, path):
    ax = m._axis([v.sample for v in x])
    return g.op("Concat", [v.name for v in x], axis=ax)


# ---- linear, convolution, pooling, normalisation ----


def _matmul_bias(g, x, w_t, bias):
    y = g.op("MatMul", [x.name, g.const(w_t, "weight")])
    return y if bias is None else g.op("Add", [y, g.const(numpy(bias), "bias")])


@emits(nn.Linear, nn.LinearWeightNorm, note="Gemm (MatMul for 1D input)")
def _linear(m, x, g, path):
    w, bias = numpy(m.weight), getattr(m, "bias", None)
    if x.ndim == 2:
        ins = [x.name, g.const(w, "weight")] + (
            [g.const(numpy(bias), "bias")] if bias is not None else []
        )
        return g.op("Gemm", ins, transB=1)
    return _matmul_bias(g, x, w.T, bias)


@emits(nn.Bilinear, note="Einsum")
def _bilinear(m, x, g, path):
    a, b = x
    eq = "ni,kij,nj->nk" if a.ndim == 2 else "i,kij,j->k"
    y = g.op("Einsum", [a.name, g.const(numpy(m.weight), "weight"), b.name], equation=eq)
    return y if m.bias is None else g.op("Add", [y, g.const(numpy(m.bias), "bias")])


def _as4d(g, x, fn):
    """``fn`` on x as a batch: a C x H x W input gets a batch of one and loses it."""
    if x.ndim == 4:
        return fn(x.name)
    return g.op("Squeeze", [fn(g.op("Unsqueeze", [x.name, g.ints([0])])), g.ints([0])])


def _conv_node(m, x, g, op, weight, **extra):
    """``op`` (Conv or ConvTranspose) for a 2-D convolution module: its weight and bias,
    kernel, stride and symmetric padding, and the ``extra`` attributes."""
    ins = [g.const(weight, "weight")]
    ins += [g.const(numpy(m.bias), "bias")] if m.bias is not None else []
    ph, pw = getattr(m, "padH", 0), getattr(m, "padW", 0)
    attrs = dict(
        kernel_shape=[m.kH, m.kW],
        strides=[getattr(m, "dH", 1), getattr(m, "dW", 1)],
        pads=[ph, pw, ph, pw],
        **extra,
    )
    return _as4d(g, x, lambda n: g.op(op, [n] + ins, **attrs))


@emits(nn.SpatialConvolution, nn.SpatialConvolutionMM, note="Conv")
def _conv(m, x, g, path):
    w = numpy(m.weight).reshape(m.nOutputPlane, m.nInputPlane, m.kH, m.kW)
    return _conv_node(m, x, g, "Conv", w)


@emits(nn.SpatialFullConvolution, note="ConvTranspose (adjW/adjH as output_padding)")
def _fullconv(m, x, g, path):
    return _conv_node(m, x, g, "ConvTranspose", numpy(m.weight), output_padding=[m.adjH, m.adjW])


def _pool_attrs(m):
    ph, pw = getattr(m, "padH", 0), getattr(m, "padW", 0)
    return dict(
        kernel_shape=[m.kH, m.kW],
        strides=[m.dH, m.dW],
        pads=[ph, pw, ph, pw],
        ceil_mode=int(bool(getattr(m, "ceil_mode", False))),
    )


@emits(nn.SpatialMaxPooling, note="MaxPool")
def _maxpool(m, x, g, path):
    if x.ndim == 4:  # a max-unpooling may read the indices
        y, idx = g.op("MaxPool", [x.name], n_out=2, **_pool_attrs(m))
        POOLS[id(m)] = (idx, x.name)
        return y
    return _as4d(g, x, lambda n: g.op("MaxPool", [n], **_pool_attrs(m)))


@emits(nn.SpatialAveragePooling, note="AveragePool")
def _avgpool(m, x, g, path):
    inc = int(bool(getattr(m, "count_include_pad", True)))
    return _as4d(g, x, lambda n: g.op("AveragePool", [n], count_include_pad=inc, **_pool_attrs(m)))


@emits(nn.SpatialCrossMapLRN, note="LRN (same constants; even sizes as size - 1)")
def _lrn(m, x, g, path):
    size, alpha = m.size, m.alpha
    if size % 2 == 0:  # nnlegacy's window is c - (size-1)//2 .. c + (size-1)//2
        size, alpha = size - 1, alpha * (size - 1) / size
    attrs = dict(size=size, alpha=float(alpha), beta=float(m.beta), bias=float(m.k))
    return _as4d(g, x, lambda n: g.op("LRN", [n], **attrs))


@emits(
    nn.BatchNormalization,
    nn.SpatialBatchNormalization,
    note="BatchNormalization (running statistics)",
)
def _batchnorm(m, x, g, path):
    mean = numpy(m.running_mean)
    var = numpy(m.running_var)
    w = numpy(m.weight) if m.weight is not None else np.ones_like(mean)
    b = numpy(m.bias) if m.bias is not None else np.zeros_like(mean)
    ins = [g.const(w, "scale"), g.const(b, "bias"), g.const(mean, "mean"), g.const(var, "var")]
    unbatched = x.ndim == m.nDim - 1
    name = g.op("Unsqueeze", [x.name, g.ints([0])]) if unbatched else x.name
    y = g.op("BatchNormalization", [name] + ins, epsilon=float(m.eps))
    return g.op("Squeeze", [y, g.ints([0])]) if unbatched else y


@emits(nn.Dropout, note="identity (v1: times 1-p)")
def _dropout(m, x, g, path):
    if getattr(m, "v2", True):
        return g.op("Identity", [x.name])
    return g.op("Mul", [x.name, g.const(1 - m.p)])


@emits(nn.SpatialDropout, note="times 1-p")
def _spatialdropout(m, x, g, path):
    return g.op("Mul", [x.name, g.const(1 - m.p)])


# ---- activations ----


def _unary(cls, op):
    emits(cls, note=op)(lambda m, x, g, path: g.op(op, [x.name]))


_unary(nn.ReLU, "Relu")
_unary(nn.Tanh, "Tanh")
_unary(nn.Sigmoid, "Sigmoid")
_unary(nn.SoftSign, "Softsign")
_unary(nn.Abs, "Abs")
_unary(nn.Sqrt, "Sqrt")
_unary(nn.Exp, "Exp")
_unary(nn.Log, "Log")
for _c in (nn.Identity, nn.Contiguous, nn.ZeroGrad, nn.GradientReversal):
    _unary(_c, "Identity")


def _attr_op(cls, op, note, fn):
    emits(cls, note=note)(lambda m, x, g, path: g.op(op, [x.name], **fn(m)))


_attr_op(nn.LeakyReLU, "LeakyRelu", "LeakyRelu", lambda m: {"alpha": float(m.negval)})
_attr_op(
    nn.RReLU, "LeakyRelu", "LeakyRelu((l+u)/2)", lambda m: {"alpha": float((m.lower + m.upper) / 2)}
)
_attr_op(nn.ELU, "Elu", "Elu", lambda m: {"alpha": float(m.alpha)})
_attr_op(nn.HardShrink, "Shrink", "Shrink", lambda m: {"lambd": float(m.__dict__["lambda"])})
_attr_op(
    nn.SoftShrink,
    "Shrink",
    "Shrink",
    lambda m: {"lambd": float(m.__dict__["lambda"]), "bias": float(m.__dict__["lambda"])},
)


@emits(nn.HardTanh, nn.Clamp, nn.ReLU6, note="Clip")
def _clip(m, x, g, path):
    lo, hi = (0, 6) if isinstance(m, nn.ReLU6) else (m.min_val, m.max_val)
    return g.op("Clip", [x.name, g.const(lo), g.const(hi)])


@emits(nn.Threshold, note="Where(x > threshold, x, value)")
def _threshold(m, x, g, path):
    cond = g.op("Greater", [x.name, g.const(m.threshold)])
    return g.op("Where", [cond, x.name, g.const(m.val)])


@emits(nn.SoftPlus, note="Softplus(beta x) / beta, x above the threshold")
def _softplus(m, x, g, path):
    bx = g.op("Mul", [x.name, g.const(m.beta)])
    sp = g.op("Div", [g.op("Softplus", [bx]), g.const(m.beta)])
    return g.op("Where", [g.op("Greater", [bx, g.const(m.threshold)]), x.name, sp])


@emits(nn.LogSigmoid, note="-Softplus(-x)")
def _logsigmoid(m, x, g, path):
    return g.op("Neg", [g.op("Softplus", [g.op("Neg", [x.name])])])


@emits(nn.TanhShrink, note="x - Tanh(x)")
def _tanhshrink(m, x, g, path):
    return g.op("Sub", [x.name, g.op("Tanh", [x.name])])


def _softmax_axis(x):
    return 0 if x.ndim in (1, 3) else 1


@emits(nn.SoftMax, nn.SpatialSoftMax, note="Softmax (Lua's dim for the rank)")
def _softmax(m, x, g, path):
    return g.op("Softmax", [x.name], axis=_softmax_axis(x))


@emits(nn.LogSoftMax, nn.SpatialLogSoftMax, note="LogSoftmax (Lua's dim for the rank)")
def _logsoftmax(m, x, g, path):
    return g.op("LogSoftmax", [x.name], axis=_softmax_axis(x))


@emits(nn.SoftMin, note="Softmax(-x)")
def _softmin(m, x, g, path):
    return g.op("Softmax", [g.op("Neg", [x.name])], axis=_softmax_axis(x))


@emits(nn.PReLU, note="PRelu (THNN's planes)")
def _prelu(m, x, g, path):
    w = numpy(m.weight)
    if m.nOutputPlane:
        shape = [1] * x.ndim
        shape[1 if x.ndim > 1 else 0] = m.nOutputPlane
        w = w.reshape(shape)
    else:
        w = w.reshape(())
    return g.op("PRelu", [x.name, g.const(w, "slope")])


@emits(nn.GatedLinearUnit, note="Split, Sigmoid, Mul")
def _glu(m, x, g, path):
    ax = (m.dim if m.dim is not None else x.ndim) - 1
    a, b = g.op("Split", [x.name], n_out=2, axis=ax)
    return g.op("Mul", [a, g.op("Sigmoid", [b])])


@emits(nn.CReLU, note="Concat(x, -x), Relu")
def _crelu(m, x, g, path):
    batched = x.ndim == m.nInputDims + 1
    flat = g.reshape(
        x.name, (x.shape[0] if batched else 1, int(x.sample.size // (x.shape[0] if batched else 1)))
    )
    both = g.op("Concat", [flat, g.op("Neg", [flat])], axis=1)
    return g.reshape(g.op("Relu", [both]), _out(m).shape)


# ---- arithmetic and misc ----


@emits(nn.Square, note="Mul(x, x)")
def _square(m, x, g, path):
    return g.op("Mul", [x.name, x.name])


@emits(nn.Power, note="Pow")
def _power(m, x, g, path):
    return g.op("Pow", [x.name, g.const(m.pow)])


@emits(nn.AddConstant, note="Add")
def _addconst(m, x, g, path):
    return g.op("Add", [x.name, g.const(m.constant_scalar)])


@emits(nn.MulConstant, note="Mul")
def _mulconst(m, x, g, path):
    return g.op("Mul", [x.name, g.const(m.constant_scalar)])


def _laid(g, x, p, op, name):
    p = numpy(p)
    if p.size == 1 and p.ndim <= 1:
        return g.op(op, [x.name, g.const(p.reshape(()))])
    shape, view = _lay_over(p, x.sample, name)
    if tuple(shape) == x.shape:
        return g.op(op, [x.name, g.const(view)])
    y = g.op(op, [g.reshape(x.name, shape), g.const(view)])
    return g.reshape(y, x.shape)


@emits(nn.Add, nn.CAdd, note="Add (Lua's layout of the bias)")
def _add(m, x, g, path):
    return _laid(g, x, m.bias, "Add", m._name())


@emits(nn.Mul, nn.CMul, note="Mul (Lua's layout of the weight)")
def _mul(m, x, g, path):
    return _laid(g, x, m.weight, "Mul", m._name())


@emits(nn.Normalize, note="Div by the p-norm of each row")
def _normalize(m, x, g, path):
    ax = g.ints([-1])
    a = g.op("Abs", [x.name])
    if math.isinf(m.p):
        norm = g.op("Add", [g.op("ReduceMax", [a], axes=[-1], keepdims=1), g.const(m.eps)])
    else:
        s = g.op("ReduceSum", [g.op("Pow", [a, g.const(m.p)]), ax], keepdims=1)
        norm = g.op("Pow", [g.op("Add", [s, g.const(m.eps)]), g.const(1 / m.p)])
    return g.op("Div", [x.name, norm])


@emits(nn.Constant, note="the constant, expanded to the batch")
def _constant(m, x, g, path):
    value = numpy(m.value)
    if _out(m).shape == value.shape:
        return g.op("Identity", [g.const(value, "value")])
    n = g.op("Slice", [g.op("Shape", [x.name]), g.ints([0]), g.ints([1])])
    shape = g.op("Concat", [n, g.ints(list(value.shape))], axis=0)
    return g.op("Expand", [g.const(value, "value"), shape])


@emits(nn.NaN, note="the wrapped module")
def _nan(m, x, g, path):
    return _emit(m.modules[0], x, g, child_path(path, 0))


def _rowsum(g, name, out_shape):
    return g.reshape(g.op("ReduceSum", [name, g.ints([-1])], keepdims=1), out_shape)


@emits(nn.DotProduct, note="Mul, ReduceSum")
def _dot(m, x, g, path):
    return _rowsum(g, g.op("Mul", [x[0].name, x[1].name]), _out(m).shape)


@emits(nn.PairwiseDistance, note="p-norm of the difference")
def _pairwise(m, x, g, path):
    d = g.op("Pow", [g.op("Abs", [g.op("Sub", [x[0].name, x[1].name])]), g.const(m.norm)])
    return g.op("Pow", [_rowsum(g, d, _out(m).shape), g.const(1 / m.norm)])


@emits(nn.CosineDistance, note="cosine of the rows")
def _cosinedist(m, x, g, path):
    a, b = x[0].name, x[1].name
    shape = _out(m).shape
    dot = _rowsum(g, g.op("Mul", [a, b]), shape)
    na = g.op("Sqrt", [g.op("Add", [_rowsum(g, g.op("Mul", [a, a]), shape), g.const(1e-12)])])
    nb = g.op("Sqrt", [g.op("Add", [_rowsum(g, g.op("Mul", [b, b]), shape), g.const(1e-12)])])
    return g.op("Div", [g.op("Div", [dot, na]), nb])


@emits(nn.Euclidean, nn.WeightedEuclidean, note="|| x - w_j ||")
def _euclidean(m, x, g, path):
    d = g.op("Sub", [g.op("Unsqueeze", [x.name, g.ints([-1])]), g.const(numpy(m.weight))])
    if isinstance(m, nn.WeightedEuclidean):
        d = g.op("Mul", [d, g.const(numpy(m.diagCov))])
    return g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [d, d]), g.ints([-2])], keepdims=0)])


@emits(nn.Cosine, note="MatMul by the normalised templates")
def _cosine(m, x, g, path):
    w = numpy(m.weight)
    wn = np.sqrt((w * w).sum(1)) + 1e-12
    y = g.op("MatMul", [x.name, g.const((w / wn[:, None]).T)])
    xn = g.op(
        "Add",
        [
            g.op(
                "Sqrt",
                [g.op("ReduceSum", [g.op("Mul", [x.name, x.name]), g.ints([-1])], keepdims=1)],
            ),
            g.const(1e-12),
        ],
    )
    return g.op("Div", [y, xn])


@emits(nn.MM, note="MatMul")
def _mm(m, x, g, path):
    a, b = x[0].name, x[1].name
    nd = x[0].ndim

    def t(n):
        return g.op("Transpose", [n], perm=list(range(nd - 2)) + [nd - 1, nd - 2])

    return g.op("MatMul", [t(a) if m.transA else a, t(b) if m.transB else b])


@emits(nn.MV, note="MatMul")
def _mv(m, x, g, path):
    a, nd = x[0].name, x[0].ndim
    if m.trans:
        a = g.op("Transpose", [a], perm=list(range(nd - 2)) + [nd - 1, nd - 2])
    return g.reshape(
        g.op("MatMul", [a, g.op("Unsqueeze", [x[1].name, g.ints([-1])])]), _out(m).shape
    )


def _indices(g, v):
    return g.op("Sub", [g.op("Cast", [v.name], to=TensorProto.INT64), g.ints(1)])


@emits(nn.LookupTable, note="Gather(weight, index - 1)")
def _lookup(m, x, g, path):
    return g.op("Gather", [g.const(numpy(m.weight), "weight"), _indices(g, x)], axis=0)


@emits(nn.OneHot, note="Equal(index, 1..n)")
def _onehot(m, x, g, path):
    idx = g.op("Unsqueeze", [g.op("Cast", [x.name], to=TensorProto.INT64), g.ints([-1])])
    hit = g.op("Equal", [idx, g.ints(np.arange(1, m.outputSize + 1))])
    return g.op("Cast", [hit], to=TensorProto.FLOAT)


@emits(nn.Index, note="Gather(input, index - 1)")
def _index(m, x, g, path):
    return g.op("Gather", [x[0].name, _indices(g, x[1])], axis=m.dimension - 1)


@emits(nn.MaskedSelect, note="Compress")
def _maskedselect(m, x, g, path):
    mask = g.op("Cast", [g.reshape(x[1].name, (-1,))], to=TensorProto.BOOL)
    return g.op("Compress", [g.reshape(x[0].name, (-1,)), mask])


# ---- shape, layout, indexing, reduction ----


@emits(
    nn.View,
    nn.Reshape,
    nn.Squeeze,
    nn.Unsqueeze,
    nn.Collapse,
    note="Reshape (sizes fixed from the sample, batch kept symbolic)",
)
def _reshape(m, x, g, path):
    return g.reshape(x.name, _out(m).shape)


@emits(nn.Transpose, note="Transpose")
def _transpose(m, x, g, path):
    return g.op("Transpose", [x.name], perm=[int(a) for a in m._axes(x.sample)])


@emits(nn.Replicate, note="Unsqueeze, Expand")
def _replicate(m, x, g, path):
    rdim = m._rdim(x.sample)
    shape = [1] * (x.ndim + 1)
    shape[rdim - 1] = m.nfeatures
    return g.op("Expand", [g.op("Unsqueeze", [x.name, g.ints([rdim - 1])]), g.ints(shape)])


@emits(nn.PixelShuffle, note="DepthToSpace (CRD)")
def _pixelshuffle(m, x, g, path):
    return _as4d(g, x, lambda n: g.op("DepthToSpace", [n], blocksize=m.upscaleFactor, mode="CRD"))


@emits(nn.Narrow, note="Slice")
def _narrow(m, x, g, path):
    sl = m._slice(x.sample)
    ax = next(i for i, s in enumerate(sl) if s != slice(None))
    s = sl[ax]
    return g.op("Slice", [x.name, g.ints([s.start]), g.ints([s.stop]), g.ints([ax])])


@emits(nn.Select, note="Gather")
def _select(m, x, g, path):
    sl = m._slice(x.sample)
    ax = next(i for i, s in enumerate(sl) if isinstance(s, int))
    return g.op("Gather", [x.name, g.ints(sl[ax])], axis=ax)


@emits(nn.SpatialZeroPadding, note="Slice (negative pads), Pad")
def _zeropad(m, x, g, path):
    name, nd = x.name, x.ndim
    crop = [(nd - 1, m.pad_l, m.pad_r), (nd - 2, m.pad_t, m.pad_b)]
    for ax, lo, hi in crop:
        if lo < 0 or hi < 0:
            n = x.shape[ax]
            name = g.op(
                "Slice", [name, g.ints([max(-lo, 0)]), g.ints([n - max(-hi, 0)]), g.ints([ax])]
            )
    lo = [0] * nd
    hi = [0] * nd
    lo[nd - 1], hi[nd - 1] = max(m.pad_l, 0), max(m.pad_r, 0)
    lo[nd - 2], hi[nd - 2] = max(m.pad_t, 0), max(m.pad_b, 0)
    return g.op("Pad", [name, g.ints(lo + hi)]) if any(lo + hi) else g.op("Identity", [name])


@emits(nn.Padding, note="Slice, Pad, Concat")
def _padding(m, x, g, path):
    ax, k, pad, _ = m._layout(x.sample)
    nd = x.ndim

    def part(a, b):
        return g.op("Slice", [x.name, g.ints([a]), g.ints([b]), g.ints([ax])])

    lo = [0] * nd
    lo[ax] = pad
    block = g.op("Pad", [part(0, 0), g.ints(lo + [0] * nd), g.const(m.value)])
    return g.op("Concat", [part(0, k), block, part(k, x.shape[ax])], axis=ax)


@emits(nn.Sum, nn.Mean, note="ReduceSum / ReduceMean")
def _sum(m, x, g, path):
    from ..reduction import _reduction_dim

    ax = _reduction_dim(m, x.sample) - 1
    if m.sizeAverage:
        y = g.op("ReduceMean", [x.name], axes=[ax], keepdims=1)
    else:
        y = g.op("ReduceSum", [x.name, g.ints([ax])], keepdims=1)
    return g.reshape(y, _out(m).shape)


@emits(nn.Max, nn.Min, note="ReduceMax / ReduceMin")
def _maxmin(m, x, g, path):
    from ..reduction import _reduction_dim

    ax = _reduction_dim(m, x.sample) - 1
    y = g.op("ReduceMax" if isinstance(m, nn.Max) else "ReduceMin", [x.name], axes=[ax], keepdims=1)
    return g.reshape(y, _out(m).shape)


def notes():
    """{class name: the ONNX operators it becomes} for every module ``to_onnx`` writes."""
    return {c.__name__: note for c, (fn, note) in EMITTERS.items()}


__all__ = ["ExportError", "to_onnx"]

from . import _onnx_more  # noqa: E402, F401  (registers more writers)
