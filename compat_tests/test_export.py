"""nnlegacy.export: every lecture net, the shared .t7 nets and a table of single modules,
converted to PyTorch (compared in float64) and to ONNX (run by ONNX Runtime, compared in
float32) on random input. Skipped with a reason when the extra is not installed."""

import importlib
import importlib.util
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy.export import ExportError, supported, to_onnx, to_torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
needs_torch = pytest.mark.skipif(
    not HAS_TORCH, reason="PyTorch is not installed (pip install 'nnlegacy[torch]')"
)
needs_onnx = pytest.mark.skipif(
    not HAS_ONNX, reason="onnx/onnxruntime are not installed (pip install 'nnlegacy[onnx]')"
)


def _tensors(v):
    return [np.asarray(t) for t in v] if isinstance(v, (list, tuple)) else [np.asarray(v)]


def check_torch(module, x, rtol=1e-9, ref=None):
    import torch

    module = module.type("torch.DoubleTensor")
    xs = _tensors(x)
    if ref is None:
        ref = module.forward(x if isinstance(x, list) else xs[0])
    ref = _tensors(ref)
    tm = to_torch(module).double()
    assert tm.training == bool(module.train)
    with torch.no_grad():
        ts = [torch.from_numpy(a) for a in xs]
        out = tm(ts if isinstance(x, list) else ts[0])
    got = [o.numpy() for o in (out if isinstance(out, list) else [out])]
    for r, o in zip(ref, got, strict=True):
        assert r.shape == o.shape
        np.testing.assert_allclose(
            o, r, rtol=rtol, atol=rtol * max(1.0, float(np.abs(r).max(initial=0)))
        )


def check_onnx(module, x, tmp_path=None, sample=None, batch2=None, ref=None):
    import onnx
    import onnxruntime as ort

    module = module.type("torch.DoubleTensor").evaluate()
    xs = _tensors(x)
    table = isinstance(x, list)
    shapes = [list(a.shape) for a in xs] if table else xs[0].shape
    path = None if tmp_path is None else tmp_path / "m.onnx"
    model = to_onnx(module, shapes, path, sample=x if sample is None else sample)
    if path is not None:
        onnx.checker.check_model(str(path))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    runs = [xs] + ([batch2] if batch2 is not None else [])
    for k, inp in enumerate(runs):
        want = ref if k == 0 and ref is not None else module.forward(inp if table else inp[0])
        feed = {
            n: a.astype(np.int64 if a.dtype.kind == "i" else np.float32) for n, a in zip(names, inp)
        }
        got = sess.run(None, feed)
        for r, o in zip(_tensors(want), got, strict=True):
            if r.shape != o.shape and r.size == o.size == math.prod(o.shape[1:]):
                r = r.reshape(o.shape)  # Lua's View drops a batch of one; the graph keeps it
            assert r.shape == o.shape
            scale = max(1.0, float(np.abs(r).max(initial=0)))
            np.testing.assert_allclose(o, r, rtol=2e-4, atol=2e-5 * scale)
    return model


# ---- the lecture networks (examples/) ----

NETS = [  # name, module, build args, input C x H x W
    ("lenet5", "lenet5", (), (1, 32, 32)),
    ("alexnet", "alexnet", (), (3, 227, 227)),
    ("zfnet", "zfnet", (), (3, 224, 224)),
    ("vgg-A", "vgg", ("A",), (3, 224, 224)),
    ("googlenet", "googlenet", (), (3, 224, 224)),
    ("resnet18", "resnet", (18,), (3, 224, 224)),
]
_built = {}


def lecture(name):
    if name not in _built:
        _, file, args, shape = next(n for n in NETS if n[0] == name)
        nn.manualSeed(1)
        net = importlib.import_module(file).build(*args).evaluate()
        rng = np.random.default_rng(3)
        for bn in net.findModules("nn.SpatialBatchNormalization"):  # non-trivial statistics
            bn.running_mean[...] = rng.uniform(-0.1, 0.1, bn.running_mean.shape)
            bn.running_var[...] = rng.uniform(0.5, 1.5, bn.running_var.shape)
        x = np.random.default_rng(0).standard_normal((1, *shape))
        _built[name] = (net, x, net.forward(x).copy())  # one float64 reference for both
    return _built[name]


@needs_torch
@pytest.mark.parametrize("name", [n[0] for n in NETS])
def test_lecture_net_to_torch(name):
    net, x, ref = lecture(name)
    check_torch(net, x, ref=ref)


@needs_onnx
@pytest.mark.parametrize("name", [n[0] for n in NETS])
def test_lecture_net_to_onnx(name):
    net, x, ref = lecture(name)
    rng = np.random.default_rng(1)
    batch2 = [rng.standard_normal((2, *x.shape[1:]))] if name in ("lenet5", "resnet18") else None
    check_onnx(net, x, batch2=batch2, ref=ref)


# ---- the shared corpus of real .t7 nets ----

T7 = Path(os.environ.get("NNLEGACY_T7_DIR", ROOT / "missing"))
T7_NETS = {  # file: input shape (batch first)
    "mlhr_lenet_cnn_double.net": (2, 3, 20, 20),
    "henlisp_mnist_mlp_cuda.t7": (2, 1, 28, 28),
    "face_detector_elab_float.net": (2, 1, 32, 32),
    "face_detector_elab_ascii.net": (2, 1, 32, 32),
    "road_net_u1net_float.net": (2, 3, 24, 24),
    "bumper_cnn_cuda.net": (1, 3, 256, 256),
    "stl_a2_cnn_double.net": (2, 1, 40, 40),
}
OPENCV = sorted(p.name[: -len("_net.txt")] for p in (T7 / "opencv_torch").glob("*_net.txt"))


def t7_net(file):
    if not T7.is_dir():
        pytest.skip("NNLEGACY_T7_DIR is not set (see /work/shared/t7/README.md)")
    try:
        return nn.load(T7 / file)
    except Exception as e:  # a file the loader cannot read is not this test's subject
        pytest.skip(f"{file} does not load: {e}")


def opencv_case(name):
    net = t7_net(f"opencv_torch/{name}_net.txt")
    x = nn.load(T7 / "opencv_torch" / f"{name}_input.txt")
    return net, np.asarray(x, np.float64)


@needs_torch
@pytest.mark.parametrize("file", sorted(T7_NETS))
def test_t7_net_to_torch(file):
    net = t7_net(file).evaluate()
    check_torch(net, np.random.default_rng(0).uniform(-1, 1, T7_NETS[file]))


@needs_onnx
@pytest.mark.parametrize("file", sorted(T7_NETS))
def test_t7_net_to_onnx(file):
    net = t7_net(file).evaluate()
    check_onnx(net, np.random.default_rng(0).uniform(-1, 1, T7_NETS[file]))


@needs_torch
@pytest.mark.parametrize("name", OPENCV or ["none"])
def test_opencv_net_to_torch(name):
    net, x = opencv_case(name)
    check_torch(net.evaluate(), x)


@needs_onnx
@pytest.mark.parametrize("name", OPENCV or ["none"])
def test_opencv_net_to_onnx(name):
    net, x = opencv_case(name)
    check_onnx(net.evaluate(), x, sample=x)


# ---- single modules ----


def _idx(shape, n):
    return lambda rng: rng.integers(1, n + 1, shape).astype(np.float64)


def _pos(shape):
    return lambda rng: rng.uniform(0.2, 2.0, shape)


def _seq(*mods):
    s = nn.Sequential()
    for m in mods:
        s.add(m)
    return s


def _tree(cls, *mods, args=()):
    c = cls(*args)
    for m in mods:
        c.add(m)
    return c


# id: (factory, input: shape or list of shapes or function of rng, modes)
# modes: 'both' (default), 'torch' (PyTorch only)
MODULES = {
    "Linear": (lambda: nn.Linear(5, 3), (4, 5)),
    "Linear-1d": (lambda: nn.Linear(5, 3), (5,)),
    "Linear-nobias": (lambda: nn.Linear(5, 3, False), (4, 5)),
    "LinearWeightNorm": (lambda: nn.LinearWeightNorm(5, 3), (4, 5)),
    "Bilinear": (lambda: nn.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    "LookupTable": (lambda: nn.LookupTable(7, 3), _idx((4, 5), 7)),
    "SpatialConvolution": (lambda: nn.SpatialConvolution(3, 4, 3, 2, 2, 1, 1, 0), (2, 3, 7, 6)),
    "SpatialConvolution-3d": (lambda: nn.SpatialConvolution(3, 4, 3, 3), (3, 6, 6)),
    "SpatialConvolutionMM": (lambda: nn.SpatialConvolutionMM(2, 3, 3, 3, 1, 1, 1, 1), (2, 2, 5, 5)),
    "SpatialFullConvolution": (
        lambda: nn.SpatialFullConvolution(3, 2, 3, 4, 2, 2, 1, 1, 1, 0),
        (2, 3, 4, 5),
    ),
    "SpatialMaxPooling": (lambda: nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1), (2, 3, 9, 8)),
    "SpatialMaxPooling-ceil": (lambda: nn.SpatialMaxPooling(3, 2, 2, 2).ceil(), (2, 3, 8, 7)),
    "SpatialAveragePooling": (lambda: nn.SpatialAveragePooling(3, 3, 2, 2, 1, 1), (2, 3, 9, 8)),
    "SpatialAveragePooling-excl": (
        lambda: nn.SpatialAveragePooling(3, 3, 2, 2, 1, 1).setCountExcludePad(),
        (2, 3, 9, 8),
    ),
    "SpatialAveragePooling-ceil": (
        lambda: nn.SpatialAveragePooling(2, 2, 2, 2).ceil(),
        (2, 3, 7, 7),
    ),
    "SpatialCrossMapLRN": (lambda: nn.SpatialCrossMapLRN(5, 0.002, 0.75, 2), (2, 7, 3, 3)),
    "SpatialCrossMapLRN-even": (lambda: nn.SpatialCrossMapLRN(4, 0.01, 0.6, 1.5), (2, 7, 3, 3)),
    "SpatialCrossMapLRN-3d": (lambda: nn.SpatialCrossMapLRN(3), (6, 3, 3)),
    "BatchNormalization": (lambda: _bn(nn.BatchNormalization(4)), (3, 4)),
    "BatchNormalization-noaffine": (
        lambda: _bn(nn.BatchNormalization(4, 1e-3, 0.1, False)),
        (3, 4),
    ),
    "SpatialBatchNormalization": (lambda: _bn(nn.SpatialBatchNormalization(3)), (2, 3, 4, 4)),
    "Dropout": (lambda: nn.Dropout(0.3), (3, 4)),
    "Dropout-v1": (lambda: nn.Dropout(0.3, True), (3, 4)),
    "SpatialDropout": (lambda: nn.SpatialDropout(0.3), (2, 3, 4, 4)),
    "Threshold": (lambda: nn.Threshold(0.1, -2), (3, 4)),
    "ReLU": (lambda: nn.ReLU(), (3, 4)),
    "ReLU6": (lambda: nn.ReLU6(), lambda rng: rng.uniform(-8, 8, (3, 4))),
    "Tanh": (lambda: nn.Tanh(), (3, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), (3, 4)),
    "HardTanh": (lambda: nn.HardTanh(-0.5, 0.7), (3, 4)),
    "Clamp": (lambda: nn.Clamp(-0.2, 0.3), (3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "ELU": (lambda: nn.ELU(0.7), (3, 4)),
    "SoftPlus": (lambda: nn.SoftPlus(2, 1), (3, 4)),
    "SoftSign": (lambda: nn.SoftSign(), (3, 4)),
    "LogSigmoid": (lambda: nn.LogSigmoid(), (3, 4)),
    "TanhShrink": (lambda: nn.TanhShrink(), (3, 4)),
    "HardShrink": (lambda: nn.HardShrink(0.3), (3, 4)),
    "SoftShrink": (lambda: nn.SoftShrink(0.3), (3, 4)),
    "RReLU": (lambda: nn.RReLU(0.1, 0.3), (3, 4)),
    "SoftMax": (lambda: nn.SoftMax(), (3, 4)),
    "SoftMax-1d": (lambda: nn.SoftMax(), (5,)),
    "SoftMax-3d": (lambda: nn.SoftMax(), (4, 2, 3)),
    "LogSoftMax": (lambda: nn.LogSoftMax(), (2, 4, 2, 3)),
    "SoftMin": (lambda: nn.SoftMin(), (3, 4)),
    "SpatialSoftMax": (lambda: nn.SpatialSoftMax(), (2, 4, 2, 3)),
    "SpatialLogSoftMax": (lambda: nn.SpatialLogSoftMax(), (2, 4, 2, 3)),
    "PReLU": (lambda: _fill(nn.PReLU(4)), (2, 4, 3)),
    "PReLU-shared": (lambda: nn.PReLU(), (2, 4, 3)),
    "GatedLinearUnit": (lambda: nn.GatedLinearUnit(2), (3, 6, 2)),
    "CReLU": (lambda: nn.CReLU(2), (3, 2, 2)),
    "Maxout": (lambda: nn.Maxout(5, 3, 2), (4, 5)),
    "Abs": (lambda: nn.Abs(), (3, 4)),
    "Square": (lambda: nn.Square(), (3, 4)),
    "Sqrt": (lambda: nn.Sqrt(), _pos((3, 4))),
    "Power": (lambda: nn.Power(2.5), _pos((3, 4))),
    "Exp": (lambda: nn.Exp(), (3, 4)),
    "Log": (lambda: nn.Log(), _pos((3, 4))),
    "AddConstant": (lambda: nn.AddConstant(1.5), (3, 4)),
    "MulConstant": (lambda: nn.MulConstant(-0.5), (3, 4)),
    "Add": (lambda: nn.Add(4), (3, 4)),
    "Add-scalar": (lambda: nn.Add(4, True), (3, 4)),
    "Mul": (lambda: nn.Mul(), (3, 4)),
    "CAdd": (lambda: nn.CAdd(1, 4, 1), (3, 4, 5)),
    "CAdd-rows": (lambda: nn.CAdd(6), (3, 2, 3)),
    "CMul": (lambda: nn.CMul(1, 4, 5), (3, 4, 5)),
    "Identity": (lambda: nn.Identity(), (3, 4)),
    "Contiguous": (lambda: nn.Contiguous(), (3, 4)),
    "ZeroGrad": (lambda: nn.ZeroGrad(), (3, 4)),
    "GradientReversal": (lambda: nn.GradientReversal(0.5), (3, 4)),
    "Normalize": (lambda: nn.Normalize(2), (3, 4)),
    "Normalize-p1.5": (lambda: nn.Normalize(1.5), (3, 4)),
    "Normalize-inf": (lambda: nn.Normalize(math.inf), (3, 4)),
    "Constant": (lambda: nn.Constant(np.arange(3.0), 2), (4, 2, 2)),
    "NaN": (lambda: nn.NaN(nn.Linear(4, 2)), (3, 4)),
    "OneHot": (lambda: nn.OneHot(5), _idx((4,), 5)),
    "Euclidean": (lambda: nn.Euclidean(4, 3), (5, 4)),
    "WeightedEuclidean": (lambda: nn.WeightedEuclidean(4, 3), (5, 4)),
    "Cosine": (lambda: nn.Cosine(4, 3), (5, 4)),
    "DotProduct": (lambda: nn.DotProduct(), [(5, 4), (5, 4)]),
    "PairwiseDistance": (lambda: nn.PairwiseDistance(2), [(5, 4), (5, 4)]),
    "PairwiseDistance-p3": (lambda: nn.PairwiseDistance(3), [(5, 4), (5, 4)]),
    "CosineDistance": (lambda: nn.CosineDistance(), [(5, 4), (5, 4)]),
    "MM": (lambda: nn.MM(True, False), [(2, 4, 3), (2, 4, 5)]),
    "MV": (lambda: nn.MV(), [(2, 3, 4), (2, 4)]),
    "View": (lambda: nn.View(6), (3, 2, 3)),
    "View-neg": (lambda: nn.View(-1, 2), (3, 2, 3)),
    "View-numInputDims": (lambda: nn.View(3, 2).setNumInputDims(2), (4, 6, 1)),
    "Reshape": (lambda: nn.Reshape(3, 2), (4, 6)),
    "Reshape-batchMode": (lambda: nn.Reshape(2, 2, True), (1, 4)),
    "Squeeze": (lambda: nn.Squeeze(), (3, 1, 4, 1)),
    "Squeeze-dim": (lambda: nn.Squeeze(1, 2), (3, 1, 4)),
    "Unsqueeze": (lambda: nn.Unsqueeze(2, 2), (3, 2, 4)),
    "Collapse": (lambda: nn.Collapse(2), (3, 2, 4)),
    "Transpose": (lambda: nn.Transpose([1, 2], [2, 3]), (2, 3, 4)),
    "Transpose-nid": (lambda: nn.Transpose([1, 2]).setNumInputDims(2), (5, 3, 4)),
    "Replicate": (lambda: nn.Replicate(3, 2, 1), (4, 5)),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (2, 8, 3, 3)),
    "Narrow": (lambda: nn.Narrow(2, 2, 3), (3, 6)),
    "Narrow-neg": (lambda: nn.Narrow(-1, 2, -2), (3, 6)),
    "Select": (lambda: nn.Select(2, -1), (3, 6)),
    "Padding": (lambda: nn.Padding(1, 2, 1, -1.5), (3, 4)),
    "Padding-index": (lambda: nn.Padding(1, -2, 1, 0.5, 2), (3, 4)),
    "SpatialZeroPadding": (lambda: nn.SpatialZeroPadding(1, 2, 0, 1), (2, 3, 4, 5)),
    "SpatialZeroPadding-neg": (lambda: nn.SpatialZeroPadding(-1, 2, 1, -2), (2, 3, 4, 5)),
    "Sum": (lambda: nn.Sum(2), (3, 4, 2)),
    "Sum-nid": (lambda: nn.Sum(1, 2, True), (3, 4, 2)),
    "Mean": (lambda: nn.Mean(-1), (3, 4)),
    "Max": (lambda: nn.Max(2), (3, 4)),
    "Min": (lambda: nn.Min(1, 1), (3, 4)),
    "Index": (lambda: nn.Index(2), lambda rng: [rng.standard_normal((3, 4)), np.array([3, 1, 3])]),
    "Sequential": (lambda: _seq(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)), (5, 4)),
    "Concat": (lambda: _tree(nn.Concat, nn.Linear(4, 3), nn.Linear(4, 2), args=(2,)), (5, 4)),
    "DepthConcat": (
        lambda: _tree(
            nn.DepthConcat,
            nn.SpatialConvolution(2, 3, 1, 1),
            nn.SpatialConvolution(2, 2, 3, 3),
            nn.SpatialConvolution(2, 1, 2, 2),
            args=(2,),
        ),
        (2, 2, 6, 6),
    ),
    "ConcatTable+CAddTable": (
        lambda: _seq(_tree(nn.ConcatTable, nn.Linear(4, 3), nn.Linear(4, 3)), nn.CAddTable()),
        (5, 4),
    ),
    "ConcatTable+JoinTable": (
        lambda: _seq(_tree(nn.ConcatTable, nn.Linear(4, 3), nn.Identity()), nn.JoinTable(2)),
        (5, 4),
    ),
    "ConcatTable-out": (lambda: _tree(nn.ConcatTable, nn.Linear(4, 3), nn.Tanh()), (5, 4)),
    "ParallelTable": (
        lambda: _tree(nn.ParallelTable, nn.Linear(4, 3), nn.Tanh()),
        [(5, 4), (5, 2)],
    ),
    "Parallel": (
        lambda: _tree(nn.Parallel, nn.Linear(4, 3), nn.Linear(4, 2), args=(2, 2)),
        (5, 2, 4),
    ),
    "MaxPooling+MaxUnpooling": (lambda: _unpool_net(), (2, 3, 4, 6)),
    "SpatialDilatedConvolution": (
        lambda: nn.SpatialDilatedConvolution(2, 3, 3, 3, 1, 1, 1, 1, 2, 2),
        (2, 2, 7, 7),
    ),
    "SpatialDilatedMaxPooling": (
        lambda: nn.SpatialDilatedMaxPooling(2, 2, 1, 1, 0, 0, 2, 2),
        (2, 3, 6, 6),
    ),
    "VolumetricConvolution": (
        lambda: nn.VolumetricConvolution(2, 3, 2, 3, 3, 1, 2, 1, 1, 0, 1),
        (2, 2, 4, 5, 5),
    ),
    "VolumetricMaxPooling": (lambda: nn.VolumetricMaxPooling(2, 2, 2), (2, 2, 4, 4, 4)),
    "VolumetricAveragePooling": (lambda: nn.VolumetricAveragePooling(2, 2, 2), (2, 2, 4, 4, 4)),
    "VolumetricBatchNormalization": (
        lambda: _bn(nn.VolumetricBatchNormalization(2)),
        (2, 2, 3, 3, 3),
    ),
    "VolumetricDropout": (lambda: nn.VolumetricDropout(0.2), (2, 2, 3, 3, 3)),
    "SpatialReflectionPadding": (lambda: nn.SpatialReflectionPadding(1, 2, 2, 1), (2, 3, 4, 5)),
    "SpatialReplicationPadding": (lambda: nn.SpatialReplicationPadding(1, 2, 2, 1), (2, 3, 4, 5)),
    "SpatialUpSamplingNearest": (lambda: nn.SpatialUpSamplingNearest(2), (2, 3, 4, 5)),
    "CSubTable": (lambda: nn.CSubTable(), [(2, 3), (2, 3)]),
    "CMulTable": (lambda: nn.CMulTable(), [(2, 3), (2, 3), (2, 3)]),
    "CDivTable": (
        lambda: nn.CDivTable(),
        lambda rng: [rng.standard_normal((2, 3)), rng.uniform(1, 2, (2, 3))],
    ),
    "CMaxTable": (lambda: nn.CMaxTable(), [(2, 3), (2, 3), (2, 3)]),
    "CMinTable": (lambda: nn.CMinTable(), [(2, 3), (2, 3)]),
    "SelectTable": (lambda: nn.SelectTable(-1), [(2, 3), (2, 4)]),
    "SplitTable+JoinTable": (lambda: _seq(nn.SplitTable(1, 1), nn.JoinTable(1, 1)), (2, 3, 4)),
    "LayerNormalization": (lambda: nn.LayerNormalization(5), (3, 5)),
    "JoinTable-neg": (lambda: nn.JoinTable(-1), [(2, 3), (2, 4)]),
    "CAddTable": (lambda: nn.CAddTable(), [(2, 3), (2, 3), (2, 3)]),
}


def _unpool_net():
    pool = nn.SpatialMaxPooling(2, 2, 2, 2)
    return _seq(pool, nn.Tanh(), nn.SpatialMaxUnpooling(pool))


def _bn(m):
    rng = np.random.default_rng(5)
    m.running_mean[...] = rng.uniform(-0.5, 0.5, m.running_mean.shape)
    m.running_var[...] = rng.uniform(0.5, 1.5, m.running_var.shape)
    return m.evaluate()


def _fill(m):
    m.weight[...] = np.random.default_rng(6).uniform(-1, 1, m.weight.shape)
    return m


def make_case(name):
    factory, spec = MODULES[name][:2]
    nn.manualSeed(2)
    m = factory().type("torch.DoubleTensor")
    rng = np.random.default_rng(7)
    if callable(spec):
        x = spec(rng)
    elif isinstance(spec, list):
        x = [rng.standard_normal(s) for s in spec]
    else:
        x = rng.standard_normal(spec)
    return m, x


@needs_torch
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_to_torch(name):
    m, x = make_case(name)
    check_torch(m.evaluate(), x)


@needs_onnx
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_to_onnx(name):
    m, x = make_case(name)
    check_onnx(m, x, sample=x)


@needs_torch
def test_torch_train_mode_and_batchnorm_statistics():
    import torch

    nn.manualSeed(3)
    bn = nn.SpatialBatchNormalization(3)
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2))
    tm = to_torch(bn).double()
    assert tm.training
    out = tm(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, bn.forward(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tm.running_var.numpy(), bn.running_var, rtol=1e-12)
    np.testing.assert_allclose(tm.running_mean.numpy(), bn.running_mean, rtol=1e-12)


@needs_torch
def test_torch_gradients_match():
    import torch

    nn.manualSeed(4)
    net = _seq(
        nn.SpatialConvolution(2, 3, 3, 3),
        nn.ReLU(),
        nn.View(-1).setNumInputDims(3),
        nn.Linear(12, 2),
    )
    net.type("torch.DoubleTensor")
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4))
    tm = to_torch(net).double()
    out = net.forward(x)
    g = np.ones_like(out)
    net.zeroGradParameters()
    gi = net.backward(x, g)
    tx = torch.from_numpy(x).requires_grad_()
    tm(tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(tx.grad.numpy(), gi, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tm[0].weight.grad.numpy(), net.get(1).gradWeight, rtol=1e-9)


@needs_torch
def test_torch_saves_and_loads(tmp_path):
    import torch

    net = _seq(nn.Linear(4, 3), nn.LogSoftMax())
    tm = to_torch(net)
    torch.save(tm, tmp_path / "m.pt")
    back = torch.load(tmp_path / "m.pt", weights_only=False)
    x = torch.rand(2, 4, dtype=tm[0].weight.dtype)
    assert torch.equal(back(x), tm(x))


def test_no_counterpart_names_the_module():
    net = _seq(nn.Linear(4, 3), _seq(nn.Tanh(), nn.SparseLinear(3, 2)))
    for target, fn in (("PyTorch", to_torch), ("ONNX", lambda m: to_onnx(m, (2, 4)))):
        if (target == "PyTorch" and not HAS_TORCH) or (target == "ONNX" and not HAS_ONNX):
            continue
        with pytest.raises(ExportError, match=r"nn\.SparseLinear at \(2\)\.\(2\) has no " + target):
            fn(net)


def test_supported_tables_cover_the_test_table():
    if HAS_TORCH:
        assert {"Linear", "SpatialConvolution", "View", "DepthConcat"} <= set(supported("pytorch"))
    if HAS_ONNX:
        assert {"Linear", "SpatialConvolution", "View", "DepthConcat"} <= set(supported("onnx"))
    with pytest.raises(ValueError):
        supported("tflite")


# ---- the t7convert command ----


def _t7convert(*args):
    from nnlegacy.export.cli import main

    return main([str(a) for a in args])


@pytest.mark.parametrize("ext", [".pt", ".onnx"])
def test_t7convert_writes_and_checks(tmp_path, capsys, ext):
    if (ext == ".pt" and not HAS_TORCH) or (ext == ".onnx" and not HAS_ONNX):
        pytest.skip(f"the extra for {ext} is not installed")
    nn.manualSeed(5)
    net = _seq(
        nn.SpatialConvolution(1, 2, 3, 3),
        nn.ReLU(),
        nn.View(-1).setNumInputDims(3),
        nn.Linear(18, 3),
    )
    nn.save(tmp_path / "m.t7", net)
    assert _t7convert(tmp_path / "m.t7", tmp_path / f"out{ext}", "--input", "1x5x5") == 0
    out = capsys.readouterr().out
    assert "input 2x1x5x5" in out
    diff = float(out.rsplit(":", 1)[1])
    assert diff < (1e-12 if ext == ".pt" else 1e-5)
    assert (tmp_path / f"out{ext}").stat().st_size > 0


def test_t7convert_errors_are_one_line_with_status_2(tmp_path, capsys):
    nn.save(tmp_path / "conv.t7", _seq(nn.SpatialConvolution(3, 2, 3, 3)))
    nn.save(tmp_path / "table.t7", {"a": 1})
    cases = [
        ((tmp_path / "none.t7", tmp_path / "o.pt"), "no such file"),
        ((tmp_path / "conv.t7", tmp_path / "o.txt"), "must end in .pt"),
        ((tmp_path / "conv.t7", tmp_path / "o.pt"), "give --input CxHxW (C = 3)"),
        ((tmp_path / "conv.t7", tmp_path / "o.pt", "--input", "3xfoo"), "expected sizes"),
        (
            (tmp_path / "conv.t7", tmp_path / "o.pt", "--input", "2x5x5"),
            "does not take a 2x2x5x5 input",
        ),
        ((tmp_path / "table.t7", tmp_path / "o.pt"), "not an nn module"),
    ]
    for args, words in cases:
        assert _t7convert(*args) == 2
        err = capsys.readouterr().err
        assert err.startswith("t7convert: ") and err.count("\n") == 1 and words in err, err
