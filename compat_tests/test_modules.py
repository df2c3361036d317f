"""Generic checks driven by one table of module cases (spec section 4.2).

For every case: forward against an independent reference, finite-difference
Jacobians in float64 for the input and every parameter (perturbation 1e-6,
tolerance 1e-5), the float/double round trip, and repr equal to Lua's string.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import reference as R

import nnlegacy as nn


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_linear(m, x):
    w, b = m.weight, m.bias
    y = np.einsum("oi,...i->...o", w, x)
    return y if b is None else y + b


def ref_conv(m, x):
    w = m.weight.reshape(m.nOutputPlane, m.nInputPlane, m.kH, m.kW)
    batch = x if x.ndim == 4 else x[None]
    y = R.conv2d_loops(batch, w, m.bias, m.dH, m.dW, m.padH, m.padW)
    return y if x.ndim == 4 else y[0]


def ref_fullconv(m, x):
    batch = x if x.ndim == 4 else x[None]
    y = R.full_conv_loops(batch, m.weight, m.bias, m.dH, m.dW, m.padH, m.padW, m.adjH, m.adjW)
    return y if x.ndim == 4 else y[0]


def ref_maxpool(m, x):
    batch = x if x.ndim == 4 else x[None]
    y, _ = R.maxpool_loops(batch, m.kH, m.kW, m.dH, m.dW, m.padH, m.padW, m.ceil_mode)
    return y if x.ndim == 4 else y[0]


def ref_threshold(th, v):
    return lambda m, x: np.where(x > th, x, v)


def _batch(fn):
    """Apply a batch reference to a single (3-D) input too."""
    return lambda m, x: fn(m, x) if x.ndim == 4 else fn(m, x[None])[0]


ref_avgpool = _batch(
    lambda m, x: R.avgpool_loops(
        x, m.kH, m.kW, m.dH, m.dW, m.padH, m.padW, m.ceil_mode, m.count_include_pad
    )
)
ref_lrn = _batch(lambda m, x: R.lrn_loops(x, m.size, m.alpha, m.beta, m.k))


def ref_bn(m, x):
    rm, rv = m._ref_stats
    return R.batchnorm_ref(x, m.weight, m.bias, rm, rv, m.eps, m.train and x.shape[0] > 1)


def bn(cls, n, train=True, affine=True):
    def make():
        m = cls(n, 1e-5, 0.1, affine)
        m.running_mean[...] = np.linspace(-0.5, 0.5, n)
        m.running_var[...] = np.linspace(0.5, 2, n)
        m._ref_stats = (m.running_mean.copy(), m.running_var.copy())
        return m if train else m.evaluate()

    return make


def ref_zeropad(l, r, t, b):
    def f(m, x):
        h, w = x.shape[-2:]
        y = np.zeros(x.shape[:-2] + (h + t + b, w + l + r))
        ys, xs = (
            slice(max(t, 0), max(t, 0) + h + min(t, 0) + min(b, 0)),
            slice(max(l, 0), max(l, 0) + w + min(l, 0) + min(r, 0)),
        )
        y[..., ys, xs] = x[..., max(-t, 0) : h - max(-b, 0), max(-l, 0) : w - max(-r, 0)]
        return y

    return f


SOFTMAX_AXIS = {1: 0, 2: 1, 3: 0, 4: 1}


@dataclass
class Case:
    name: str
    make: Callable
    shape: tuple
    ref: Callable
    text: str
    params: list = field(default_factory=list)
    jacobian: bool = True
    tol: float = R.PRECISION


CASES = [
    Case(
        "Linear-1d",
        lambda: nn.Linear(5, 3),
        (5,),
        ref_linear,
        "nn.Linear(5 -> 3)",
        ["weight", "bias"],
    ),
    Case(
        "Linear-2d",
        lambda: nn.Linear(4, 3),
        (3, 4),
        ref_linear,
        "nn.Linear(4 -> 3)",
        ["weight", "bias"],
    ),
    Case(
        "Linear-noBias",
        lambda: nn.Linear(4, 2).noBias(),
        (3, 4),
        ref_linear,
        "nn.Linear(4 -> 2) without bias",
        ["weight"],
    ),
    Case(
        "SpatialConvolution-3d",
        lambda: nn.SpatialConvolution(2, 3, 3, 2),
        (2, 5, 4),
        ref_conv,
        "nn.SpatialConvolution(2 -> 3, 3x2)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialConvolution-stride-pad",
        lambda: nn.SpatialConvolution(2, 2, 3, 3, 2, 2, 1, 1),
        (2, 2, 6, 5),
        ref_conv,
        "nn.SpatialConvolution(2 -> 2, 3x3, 2,2, 1,1)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialConvolution-asym",
        lambda: nn.SpatialConvolution(1, 2, 2, 3, 1, 2, 1, 0),
        (2, 1, 7, 5),
        ref_conv,
        "nn.SpatialConvolution(1 -> 2, 2x3, 1,2, 1,0)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialConvolution-dropped-edge",
        lambda: nn.SpatialConvolution(1, 1, 3, 3, 3, 3),
        (1, 7, 7),
        ref_conv,
        "nn.SpatialConvolution(1 -> 1, 3x3, 3,3)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialConvolution-noBias",
        lambda: nn.SpatialConvolution(2, 2, 2, 2).noBias(),
        (1, 2, 4, 4),
        ref_conv,
        "nn.SpatialConvolution(2 -> 2, 2x2) without bias",
        ["weight"],
    ),
    Case(
        "SpatialConvolutionMM",
        lambda: nn.SpatialConvolutionMM(2, 3, 3, 3, 1, 1, 1),
        (2, 2, 4, 5),
        ref_conv,
        "nn.SpatialConvolutionMM(2 -> 3, 3x3, 1,1, 1,1)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialFullConvolution",
        lambda: nn.SpatialFullConvolution(2, 3, 3, 2),
        (2, 2, 3, 2),
        ref_fullconv,
        "nn.SpatialFullConvolution(2 -> 3, 3x2)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialFullConvolution-stride-pad-adj",
        lambda: nn.SpatialFullConvolution(2, 2, 3, 4, 2, 3, 1, 1, 1, 2),
        (2, 3, 3),
        ref_fullconv,
        "nn.SpatialFullConvolution(2 -> 2, 3x4, 2,3, 1,1, 1,2)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialFullConvolution-noBias",
        lambda: nn.SpatialFullConvolution(1, 2, 2, 2, 2, 2).noBias(),
        (1, 1, 3, 3),
        ref_fullconv,
        "nn.SpatialFullConvolution(1 -> 2, 2x2, 2,2) without bias",
        ["weight"],
    ),
    Case(
        "SpatialMaxPooling-2x2",
        lambda: nn.SpatialMaxPooling(2, 2, 2, 2),
        (2, 2, 6, 6),
        ref_maxpool,
        "nn.SpatialMaxPooling(2x2, 2,2)",
    ),
    Case(
        "SpatialMaxPooling-overlap",
        lambda: nn.SpatialMaxPooling(3, 3, 2, 2),
        (2, 7, 7),
        ref_maxpool,
        "nn.SpatialMaxPooling(3x3, 2,2)",
    ),
    Case(
        "SpatialMaxPooling-ceil-pad",
        lambda: nn.SpatialMaxPooling(3, 2, 2, 2, 1, 1).ceil(),
        (2, 2, 5, 6),
        ref_maxpool,
        "nn.SpatialMaxPooling(3x2, 2,2, 1,1)",
    ),
    Case(
        "SpatialMaxPooling-default-stride",
        lambda: nn.SpatialMaxPooling(2, 3),
        (1, 7, 5),
        ref_maxpool,
        "nn.SpatialMaxPooling(2x3, 2,3)",
    ),
    Case(
        "Threshold",
        lambda: nn.Threshold(0.3, -0.7),
        (3, 4, 2),
        ref_threshold(0.3, -0.7),
        "nn.Threshold",
    ),
    Case("Threshold-default", lambda: nn.Threshold(), (5,), ref_threshold(1e-6, 0), "nn.Threshold"),
    Case("ReLU", lambda: nn.ReLU(), (2, 3, 4), ref_threshold(0, 0), "nn.ReLU"),
    Case("Tanh", lambda: nn.Tanh(), (3, 4, 2), lambda m, x: np.tanh(x), "nn.Tanh"),
    Case("Sigmoid", lambda: nn.Sigmoid(), (3, 4, 2), lambda m, x: _sigmoid(x), "nn.Sigmoid"),
    Case(
        "SoftMax-1d",
        lambda: nn.SoftMax(),
        (6,),
        lambda m, x: _softmax(x, 0),
        "nn.SoftMax",
        tol=1.1e-4,
    ),
    Case(
        "SoftMax-2d",
        lambda: nn.SoftMax(),
        (3, 5),
        lambda m, x: _softmax(x, 1),
        "nn.SoftMax",
        tol=1.1e-4,
    ),
    Case(
        "SoftMax-3d",
        lambda: nn.SoftMax(),
        (4, 2, 3),
        lambda m, x: _softmax(x, 0),
        "nn.SoftMax",
        tol=1.1e-4,
    ),
    Case(
        "SoftMax-4d",
        lambda: nn.SoftMax(),
        (2, 3, 2, 2),
        lambda m, x: _softmax(x, 1),
        "nn.SoftMax",
        tol=1.1e-4,
    ),
    Case(
        "LogSoftMax-2d",
        lambda: nn.LogSoftMax(),
        (3, 5),
        lambda m, x: np.log(_softmax(x, 1)),
        "nn.LogSoftMax",
        tol=1e-3,
    ),
    Case(
        "LogSoftMax-3d",
        lambda: nn.LogSoftMax(),
        (4, 2, 3),
        lambda m, x: np.log(_softmax(x, 0)),
        "nn.LogSoftMax",
        tol=1e-3,
    ),
    Case(
        "LogSoftMax-4d",
        lambda: nn.LogSoftMax(),
        (2, 3, 2, 2),
        lambda m, x: np.log(_softmax(x, 1)),
        "nn.LogSoftMax",
        tol=1e-3,
    ),
    Case("View", lambda: nn.View(6), (5, 2, 3), lambda m, x: x.reshape(5, 6), "nn.View(6)"),
    Case(
        "View-neg", lambda: nn.View(2, -1), (4, 3), lambda m, x: x.reshape(2, 6), "nn.View(2, -1)"
    ),
    Case(
        "Reshape",
        lambda: nn.Reshape(5, 2),
        (3, 10),
        lambda m, x: x.reshape(3, 5, 2),
        "nn.Reshape(5x2)",
    ),
    Case("Identity", lambda: nn.Identity(), (3, 2), lambda m, x: x, "nn.Identity"),
    Case(
        "SpatialAveragePooling-default-stride",
        lambda: nn.SpatialAveragePooling(2, 2),
        (2, 4, 5),
        ref_avgpool,
        "nn.SpatialAveragePooling(2x2, 1,1)",
    ),
    Case(
        "SpatialAveragePooling-include-pad",
        lambda: nn.SpatialAveragePooling(3, 3, 2, 2, 1, 1),
        (2, 2, 5, 6),
        ref_avgpool,
        "nn.SpatialAveragePooling(3x3, 2,2, 1,1)",
    ),
    Case(
        "SpatialAveragePooling-exclude-pad-ceil",
        lambda: nn.SpatialAveragePooling(3, 2, 2, 2, 1, 1).ceil().setCountExcludePad(),
        (2, 2, 6, 7),
        ref_avgpool,
        "nn.SpatialAveragePooling(3x2, 2,2, 1,1)",
    ),
    Case(
        "SpatialAveragePooling-ceil-overhang",
        lambda: nn.SpatialAveragePooling(3, 3, 2, 2).ceil(),
        (1, 2, 6, 6),
        ref_avgpool,
        "nn.SpatialAveragePooling(3x3, 2,2)",
    ),
    Case(
        "SpatialCrossMapLRN",
        lambda: nn.SpatialCrossMapLRN(3, 0.5, 0.75, 2),
        (2, 5, 3, 2),
        ref_lrn,
        "nn.SpatialCrossMapLRN",
    ),
    Case(
        "SpatialCrossMapLRN-3d",
        lambda: nn.SpatialCrossMapLRN(5, 0.9, 0.3, 1),
        (6, 2, 3),
        ref_lrn,
        "nn.SpatialCrossMapLRN",
    ),
    Case(
        "BatchNormalization-train",
        bn(nn.BatchNormalization, 3),
        (5, 3),
        ref_bn,
        "nn.BatchNormalization (2D) (3)",
        ["weight", "bias"],
    ),
    Case(
        "BatchNormalization-eval",
        bn(nn.BatchNormalization, 3, train=False),
        (5, 3),
        ref_bn,
        "nn.BatchNormalization (2D) (3)",
        ["weight", "bias"],
    ),
    Case(
        "BatchNormalization-no-affine",
        bn(nn.BatchNormalization, 4, affine=False),
        (3, 4),
        ref_bn,
        "nn.BatchNormalization (2D) (4)",
    ),
    Case(
        "SpatialBatchNormalization-train",
        bn(nn.SpatialBatchNormalization, 2),
        (3, 2, 2, 3),
        ref_bn,
        "nn.SpatialBatchNormalization (4D) (2)",
        ["weight", "bias"],
    ),
    Case(
        "SpatialBatchNormalization-eval",
        bn(nn.SpatialBatchNormalization, 2, train=False),
        (2, 2, 3, 2),
        ref_bn,
        "nn.SpatialBatchNormalization (4D) (2)",
        ["weight", "bias"],
    ),
    Case(
        "Dropout-evaluate",
        lambda: nn.Dropout(0.3).evaluate(),
        (3, 4),
        lambda m, x: x,
        "nn.Dropout(0.300000)",
    ),
    Case(
        "Dropout-v1-evaluate",
        lambda: nn.Dropout(0.25, True).evaluate(),
        (3, 4),
        lambda m, x: 0.75 * x,
        "nn.Dropout(0.250000)",
    ),
    Case(
        "SpatialZeroPadding",
        lambda: nn.SpatialZeroPadding(1, 2, 0, 1),
        (2, 2, 3, 4),
        ref_zeropad(1, 2, 0, 1),
        "nn.SpatialZeroPadding(l=1, r=2, t=0, b=1)",
    ),
    Case(
        "SpatialZeroPadding-crop",
        lambda: nn.SpatialZeroPadding(-1, 1, 2, -2),
        (2, 5, 4),
        ref_zeropad(-1, 1, 2, -2),
        "nn.SpatialZeroPadding(l=-1, r=1, t=2, b=-2)",
    ),
    Case("Narrow", lambda: nn.Narrow(2, 2, 3), (3, 5, 2), lambda m, x: x[:, 1:4], "nn.Narrow"),
    Case(
        "Narrow-negative-length",
        lambda: nn.Narrow(-1, 2, -1),
        (3, 4),
        lambda m, x: x[:, 1:],
        "nn.Narrow",
    ),
    Case("Select", lambda: nn.Select(2, -1), (3, 4, 2), lambda m, x: x[:, -1], "nn.Select"),
]
IDS = [c.name for c in CASES]


def _input(backend, case, rng):
    return backend.asarray(rng.uniform(-2, 2, case.shape))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_reference(case, backend):
    rng = np.random.default_rng(7)
    m = backend.module(case.make())
    x = _input(backend, case, rng)
    expected = case.ref(m if not backend.gpu else _host_copy(m), backend.tonp(x))
    got = backend.tonp(m.forward(x))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def _host_copy(m):
    return m.clone().type("torch.DoubleTensor")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jacobian_input(case, backend):
    rng = np.random.default_rng(11)
    m = backend.module(case.make())
    x = _input(backend, case, rng)
    j_fd, j_bp = R.jacobian_input(m, x)
    assert np.abs(j_fd - j_bp).max() < case.tol


PARAM_CASES = [(c, p) for c in CASES for p in c.params]


@pytest.mark.parametrize("case,pname", PARAM_CASES, ids=[f"{c.name}-{p}" for c, p in PARAM_CASES])
def test_jacobian_parameters(case, pname, backend):
    rng = np.random.default_rng(13)
    m = backend.module(case.make())
    x = _input(backend, case, rng)
    gname = "grad" + pname[0].upper() + pname[1:]
    j_fd, j_bp = R.jacobian_param(m, x, pname, gname)
    assert np.abs(j_fd - j_bp).max() < case.tol


@pytest.mark.parametrize("case,pname", PARAM_CASES, ids=[f"{c.name}-{p}" for c, p in PARAM_CASES])
def test_jacobian_update_parameters(case, pname):
    """accUpdateGradParameters (lr 1) against param - J, with torch/nn's own helper
    nn.Jacobian as Lua's test.lua does (random input and parameter in [-2, 2])."""
    nn.torchrandom.manualSeed(19)
    m = case.make()
    x = np.zeros(case.shape)
    assert nn.Jacobian.testJacobianUpdateParameters(m, x, getattr(m, pname)) < case.tol


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_io_round_trip(case):
    """nn.Jacobian.testIO: a saved and reloaded module gives the same output and gradInput."""
    nn.torchrandom.manualSeed(23)
    m = case.make()
    x = np.random.default_rng(29).uniform(-2, 2, case.shape)
    assert nn.Jacobian.testIO(m, x) == (0.0, 0.0)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.params], ids=[c.name for c in CASES if c.params]
)
def test_acc_grad_parameters_accumulates_with_scale(case, backend):
    rng = np.random.default_rng(17)
    m = backend.module(case.make())
    x = _input(backend, case, rng)
    out = m.forward(x)
    g = backend.asarray(rng.standard_normal(out.shape))
    R.check_scale_accumulates(m, x, g)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float_double_round_trip(case, backend):
    rng = np.random.default_rng(19)
    m = backend.module(case.make())
    x = _input(backend, case, rng)
    y64 = backend.tonp(m.forward(x)).copy()
    m.type(backend.float)
    assert m.type() == backend.float
    for a in (m.parameters() or [[]])[0]:
        assert a.dtype == np.float32
    y32 = m.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(backend.tonp(y32), y64, rtol=1e-4, atol=1e-5)
    m.type(backend.double)
    assert m.type() == backend.double
    for a in (m.parameters() or [[]])[0]:
        assert a.dtype == np.float64
    np.testing.assert_allclose(backend.tonp(m.forward(x)), y64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_repr_is_lua_string(case):
    m = case.make()
    assert repr(m) == case.text
    assert str(m) == case.text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clone_gives_identical_outputs(case, backend):
    rng = np.random.default_rng(23)
    m = backend.module(case.make())
    x = _input(backend, case, rng)
    y = backend.tonp(m.forward(x)).copy()
    c = m.clone()
    np.testing.assert_array_equal(backend.tonp(c.forward(x)), y)
    if c.parameters():
        c.parameters()[0][0].fill(0)
        np.testing.assert_array_equal(backend.tonp(m.forward(x)), y)
