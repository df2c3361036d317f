"""Activations and arithmetic modules (issue 12), driven by one table of cases.

For every case: forward against an independent NumPy formula, float64 finite-difference
Jacobians for the input and every parameter, accGradParameters accumulating with
``scale``, batch and non-batch input, ``clearState``, the float/double round trip and
the Lua print-out, on NumPy and (marked gpu) CuPy. Then the in-place variants against
their copying twins, the stochastic modules, and bad input: Lua's error text where the
golden index records one, a clear one otherwise, and the state unchanged.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import reference as R

import nnlegacy as nn
from nnlegacy import backend as B


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


SOFTMAX_AXIS = {1: 0, 2: 1, 3: 0, 4: 1}


def ref_prelu(m, x):
    w = m.weight
    y = x.copy()
    if m.nOutputPlane == 0:
        return np.where(x > 0, x, w[0] * x)
    axis = 1 if x.ndim > 1 else 0
    for c in range(m.nOutputPlane):
        sl = [slice(None)] * x.ndim
        sl[axis] = c
        v = x[tuple(sl)]
        y[tuple(sl)] = np.where(v > 0, v, w[c] * v)
    return y


def ref_glu(dim):
    def f(m, x):
        d = (dim or x.ndim) - 1
        a, b = np.split(x, 2, axis=d)
        return a * _sigmoid(b)

    return f


def ref_crelu(n_input_dims):
    def f(m, x):
        axis = 1 if x.ndim == n_input_dims + 1 else 0
        return np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], axis=axis)

    return f


def ref_maxout(m, x):
    lin = m.modules[0]
    k, out = m.modules[1].size
    y = x @ lin.weight.T + lin.bias
    return y.reshape(x.shape[:-1] + (k, out)).max(axis=-2)


def ref_normalize(p, eps=1e-10):
    def f(m, x):
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        if p == np.inf:
            norm = np.abs(rows).max(axis=1, keepdims=True) + eps
        else:
            norm = ((np.abs(rows) ** p).sum(axis=1, keepdims=True) + eps) ** (1 / p)
        return (rows / norm).reshape(x.shape)

    return f


def ref_linear(m, x):
    lin = m.modules[0]
    return x @ lin.weight.T + lin.bias


def fixed(make, low, high, shape, seed=5):
    """A stochastic module that replays slopes/noise from a fixed generator."""

    def build():
        m = make()
        m._fixed_noise = np.random.default_rng(seed).uniform(low, high, shape)
        return m

    return build


@dataclass
class Case:
    name: str
    make: Callable
    shape: tuple
    ref: Callable
    text: str
    params: list = field(default_factory=list)
    low: float = -2.0
    high: float = 2.0
    kinks: tuple = ()  # points where the derivative jumps: inputs are kept 1e-3 away
    jacobian: bool = True
    owner: Callable = staticmethod(lambda m: m)  # the module that holds the parameters


CASES = [
    # --- activations ---------------------------------------------------------------
    Case("HardTanh", nn.HardTanh, (3, 4), lambda m, x: np.clip(x, -1, 1), "nn.HardTanh",
         kinks=(-1, 1)),
    Case("HardTanh-args-1d", lambda: nn.HardTanh(-0.5, 0.3), (5,),
         lambda m, x: np.clip(x, -0.5, 0.3), "nn.HardTanh", kinks=(-0.5, 0.3)),
    Case("Clamp-3d", lambda: nn.Clamp(-0.5, 0.5), (2, 3, 4),
         lambda m, x: np.clip(x, -0.5, 0.5), "nn.Clamp", kinks=(-0.5, 0.5)),
    Case("ReLU6", nn.ReLU6, (3, 4), lambda m, x: np.clip(x, 0, 6), "nn.ReLU6",
         low=-2, high=8, kinks=(0, 6)),
    Case("LeakyReLU", nn.LeakyReLU, (3, 4), lambda m, x: np.where(x > 0, x, 0.01 * x),
         "nn.LeakyReLU(0.01)", kinks=(0,)),
    Case("LeakyReLU-0.2-1d", lambda: nn.LeakyReLU(0.2), (5,),
         lambda m, x: np.where(x > 0, x, 0.2 * x), "nn.LeakyReLU(0.2)", kinks=(0,)),
    Case("ELU", nn.ELU, (3, 4), lambda m, x: np.where(x > 0, x, np.expm1(x)),
         "nn.ELU (alpha:1.000000)", kinks=(0,)),
    Case("ELU-0.5-4d", lambda: nn.ELU(0.5), (2, 3, 2, 2),
         lambda m, x: np.where(x > 0, x, 0.5 * np.expm1(x)), "nn.ELU (alpha:0.500000)",
         kinks=(0,)),
    Case("SoftPlus", nn.SoftPlus, (3, 4), lambda m, x: np.log1p(np.exp(x)), "nn.SoftPlus",
         low=-5, high=5),
    Case("SoftPlus-beta-threshold", lambda: nn.SoftPlus(2, 5), (4, 4),
         lambda m, x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2), "nn.SoftPlus",
         low=-4, high=4, kinks=(2.5,)),
    Case("SoftSign", nn.SoftSign, (3, 4), lambda m, x: x / (1 + np.abs(x)), "nn.SoftSign"),
    Case("LogSigmoid", nn.LogSigmoid, (3, 4), lambda m, x: -np.log1p(np.exp(-x)),
         "nn.LogSigmoid", low=-8, high=8),
    Case("TanhShrink", nn.TanhShrink, (3, 4), lambda m, x: x - np.tanh(x), "nn.TanhShrink"),
    Case("HardShrink", nn.HardShrink, (3, 4), lambda m, x: np.where(np.abs(x) > 0.5, x, 0),
         "nn.HardShrink", kinks=(-0.5, 0.5)),
    Case("HardShrink-0.2-1d", lambda: nn.HardShrink(0.2), (6,),
         lambda m, x: np.where(np.abs(x) > 0.2, x, 0), "nn.HardShrink", kinks=(-0.2, 0.2)),
    Case("SoftShrink", nn.SoftShrink, (3, 4),
         lambda m, x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0), "nn.SoftShrink",
         kinks=(-0.5, 0.5)),
    Case("SoftShrink-0.2-3d", lambda: nn.SoftShrink(0.2), (2, 2, 3),
         lambda m, x: np.sign(x) * np.maximum(np.abs(x) - 0.2, 0), "nn.SoftShrink",
         kinks=(-0.2, 0.2)),
    Case("PReLU-shared", nn.PReLU, (3, 4), ref_prelu, "nn.PReLU", ["weight"], kinks=(0,)),
    Case("PReLU-4d", lambda: nn.PReLU(3), (2, 3, 2, 2), ref_prelu, "nn.PReLU", ["weight"],
         kinks=(0,)),
    Case("PReLU-2d", lambda: nn.PReLU(3), (4, 3), ref_prelu, "nn.PReLU", ["weight"], kinks=(0,)),
    Case("PReLU-1d", lambda: nn.PReLU(3), (3,), ref_prelu, "nn.PReLU", ["weight"], kinks=(0,)),
    Case("PReLU-3d-dim2", lambda: nn.PReLU(3), (2, 3, 4), ref_prelu, "nn.PReLU", ["weight"],
         kinks=(0,)),
    Case("RReLU-evaluate", lambda: nn.RReLU(0.1, 0.3).evaluate(), (3, 4),
         lambda m, x: np.where(x > 0, x, 0.2 * x), "nn.RReLU (l:0.100000, u:0.300000)",
         kinks=(0,)),
    Case("RReLU-train-fixed", fixed(nn.RReLU, 1 / 8, 1 / 3, (3, 4)), (3, 4),
         lambda m, x: np.where(x > 0, x, m._fixed_noise * x),
         "nn.RReLU (l:0.125000, u:0.333333)", kinks=(0,)),
    Case("SoftMin-1d", nn.SoftMin, (5,), lambda m, x: _softmax(-x, 0), "nn.SoftMin"),
    Case("SoftMin-2d", nn.SoftMin, (3, 5), lambda m, x: _softmax(-x, 1), "nn.SoftMin"),
    Case("SoftMin-3d", nn.SoftMin, (3, 2, 2), lambda m, x: _softmax(-x, 0), "nn.SoftMin"),
    Case("SpatialSoftMax-3d", nn.SpatialSoftMax, (3, 2, 2), lambda m, x: _softmax(x, 0),
         "nn.SpatialSoftMax"),
    Case("SpatialSoftMax-4d", nn.SpatialSoftMax, (2, 3, 2, 2), lambda m, x: _softmax(x, 1),
         "nn.SpatialSoftMax"),
    Case("SpatialLogSoftMax-3d", nn.SpatialLogSoftMax, (3, 2, 2),
         lambda m, x: np.log(_softmax(x, 0)), "nn.SpatialLogSoftMax"),
    Case("SpatialLogSoftMax-4d", nn.SpatialLogSoftMax, (2, 3, 2, 2),
         lambda m, x: np.log(_softmax(x, 1)), "nn.SpatialLogSoftMax"),
    Case("GatedLinearUnit", nn.GatedLinearUnit, (3, 4), ref_glu(None), "nn.GatedLinearUnit"),
    Case("GatedLinearUnit-dim1", lambda: nn.GatedLinearUnit(1), (4, 3), ref_glu(1),
         "nn.GatedLinearUnit"),
    Case("GatedLinearUnit-dim2-3d", lambda: nn.GatedLinearUnit(2), (2, 6, 3), ref_glu(2),
         "nn.GatedLinearUnit"),
    Case("CReLU-1d", lambda: nn.CReLU(1), (3,), ref_crelu(1), "CReLU()", kinks=(0,)),
    Case("CReLU-batch", lambda: nn.CReLU(1), (2, 3), ref_crelu(1), "CReLU()", kinks=(0,)),
    Case("CReLU-3d", lambda: nn.CReLU(3), (2, 3, 3), ref_crelu(3), "CReLU()", kinks=(0,)),
    Case("CReLU-batch-3d", lambda: nn.CReLU(3), (2, 2, 3, 3), ref_crelu(3), "CReLU()",
         kinks=(0,)),
    Case("Maxout-batch", lambda: nn.Maxout(4, 3, 2), (2, 4), ref_maxout,
         "nn.Sequential {\n  [input -> (1) -> (2) -> (3) -> output]\n  (1): nn.Linear(4 -> 6)"
         "\n  (2): nn.View(2, 3)\n  (3): nn.Max\n}", ["weight", "bias"],
         owner=lambda m: m.modules[0]),
    Case("Maxout-1d", lambda: nn.Maxout(4, 3, 3), (4,), ref_maxout,
         "nn.Sequential {\n  [input -> (1) -> (2) -> (3) -> output]\n  (1): nn.Linear(4 -> 9)"
         "\n  (2): nn.View(3, 3)\n  (3): nn.Max\n}", ["weight", "bias"],
         owner=lambda m: m.modules[0]),
    # --- arithmetic ----------------------------------------------------------------
    Case("Abs", nn.Abs, (3, 4), lambda m, x: np.abs(x), "nn.Abs", kinks=(0,)),
    Case("Square", nn.Square, (3, 4), lambda m, x: x**2, "nn.Square"),
    Case("Sqrt", nn.Sqrt, (3, 4), lambda m, x: np.sqrt(x), "nn.Sqrt", low=0.1),
    Case("Power-2", lambda: nn.Power(2), (3, 4), lambda m, x: x**2, "nn.Power"),
    Case("Power-0.5", lambda: nn.Power(0.5), (3, 4), lambda m, x: np.sqrt(x), "nn.Power",
         low=0.1),
    Case("Power-3-1d", lambda: nn.Power(3), (5,), lambda m, x: x**3, "nn.Power"),
    Case("Power--1", lambda: nn.Power(-1), (3, 4), lambda m, x: 1 / x, "nn.Power", low=0.5),
    Case("Exp", nn.Exp, (3, 4), lambda m, x: np.exp(x), "nn.Exp"),
    Case("Log", nn.Log, (3, 4), lambda m, x: np.log(x), "nn.Log", low=0.1),
    Case("AddConstant", lambda: nn.AddConstant(1.5), (3, 4), lambda m, x: x + 1.5,
         "nn.AddConstant"),
    Case("AddConstant-tensor-2d", lambda: nn.AddConstant(np.array([1.0, 2, 3])), (2, 3),
         lambda m, x: x + [1, 2, 3], "nn.AddConstant"),
    Case("AddConstant-tensor-1d", lambda: nn.AddConstant(np.array([1.0, 2, 3])), (3,),
         lambda m, x: x + [1, 2, 3], "nn.AddConstant"),
    Case("MulConstant", lambda: nn.MulConstant(2.5), (3, 4), lambda m, x: 2.5 * x,
         "nn.MulConstant"),
    Case("Add-1d", lambda: nn.Add(4), (4,), lambda m, x: x + m.bias, "nn.Add", ["bias"]),
    Case("Add-batch", lambda: nn.Add(4), (3, 4), lambda m, x: x + m.bias, "nn.Add", ["bias"]),
    Case("Add-batch-view", lambda: nn.Add(4), (3, 2, 2),
         lambda m, x: x + m.bias.reshape(2, 2), "nn.Add", ["bias"]),
    Case("Add-scalar", lambda: nn.Add(1, True), (3, 4), lambda m, x: x + m.bias[0], "nn.Add",
         ["bias"]),
    Case("Mul", nn.Mul, (3, 4), lambda m, x: m.weight[0] * x, "nn.Mul", ["weight"]),
    Case("CAdd-1d", lambda: nn.CAdd(4), (4,), lambda m, x: x + m.bias, "nn.CAdd", ["bias"]),
    Case("CAdd-batch", lambda: nn.CAdd(4), (3, 4), lambda m, x: x + m.bias, "nn.CAdd",
         ["bias"]),
    Case("CAdd-expand", lambda: nn.CAdd(3, 1), (3, 4), lambda m, x: x + m.bias, "nn.CAdd",
         ["bias"]),
    Case("CAdd-batch-2d", lambda: nn.CAdd(2, 2), (3, 2, 2), lambda m, x: x + m.bias, "nn.CAdd",
         ["bias"]),
    Case("CMul-1d", lambda: nn.CMul(4), (4,), lambda m, x: x * m.weight, "nn.CMul", ["weight"]),
    Case("CMul-batch", lambda: nn.CMul(4), (3, 4), lambda m, x: x * m.weight, "nn.CMul",
         ["weight"]),
    Case("CMul-expand", lambda: nn.CMul(3, 1), (3, 4), lambda m, x: x * m.weight, "nn.CMul",
         ["weight"]),
    Case("CMul-expand-3d", lambda: nn.CMul(1, 3, 1), (2, 3, 4), lambda m, x: x * m.weight,
         "nn.CMul", ["weight"]),
    Case("CMul-batch-2d", lambda: nn.CMul(2, 2), (3, 2, 2), lambda m, x: x * m.weight,
         "nn.CMul", ["weight"]),
    Case("CMul-scalar", lambda: nn.CMul(1), (3, 4), lambda m, x: x * m.weight[0], "nn.CMul",
         ["weight"]),
    Case("Constant", lambda: nn.Constant(2.5), (3,), lambda m, x: np.array([2.5]),
         "nn.Constant"),
    Case("Constant-batch", lambda: nn.Constant(np.array([1.0, 2, 3]), 1), (4, 2),
         lambda m, x: np.tile([1.0, 2, 3], (4, 1)), "nn.Constant"),
    Case("Normalize-2-1d", lambda: nn.Normalize(2), (4,), ref_normalize(2), "nn.Normalize(2)"),
    Case("Normalize-2", lambda: nn.Normalize(2), (3, 4), ref_normalize(2), "nn.Normalize(2)"),
    Case("Normalize-1", lambda: nn.Normalize(1), (3, 4), ref_normalize(1), "nn.Normalize(1)",
         kinks=(0,)),
    Case("Normalize-3", lambda: nn.Normalize(3), (3, 4), ref_normalize(3), "nn.Normalize(3)",
         kinks=(0,)),
    Case("Normalize-4", lambda: nn.Normalize(4), (3, 4), ref_normalize(4), "nn.Normalize(4)"),
    Case("Normalize-1.5", lambda: nn.Normalize(1.5), (3, 4), ref_normalize(1.5),
         "nn.Normalize(1.500000)", kinks=(0,)),
    Case("Normalize-inf", lambda: nn.Normalize(np.inf), (3, 4), ref_normalize(np.inf),
         "nn.Normalize(inf)"),
    Case("GradientReversal", nn.GradientReversal, (3, 4), lambda m, x: x,
         "nn.GradientReversal", jacobian=False),
    Case("ZeroGrad", nn.ZeroGrad, (3, 4), lambda m, x: x, "nn.ZeroGrad", jacobian=False),
    Case("WhiteNoise-fixed", fixed(nn.WhiteNoise, -0.3, 0.3, (3, 4)), (3, 4),
         lambda m, x: x + m._fixed_noise, "nn.WhiteNoise mean: 0.000000, std: 0.100000"),
    Case("WhiteNoise-evaluate", lambda: nn.WhiteNoise(0.5, 2).evaluate(), (3, 4),
         lambda m, x: x + 0.5, "nn.WhiteNoise mean: 0.500000, std: 2.000000", jacobian=False),
    Case("NaN-Linear", lambda: nn.NaN(nn.Linear(4, 3), 7), (2, 4), ref_linear,
         "nn.NaN(7) @ nn.Linear(4 -> 3)", ["weight", "bias"], owner=lambda m: m.modules[0]),
]  # fmt: skip
IDS = [c.name for c in CASES]


def _input(backend, case, seed):
    x = np.random.default_rng(seed).uniform(case.low, case.high, case.shape)
    for k in case.kinks:
        near = np.abs(x - k) < 1e-3
        x[near] = k + np.where(x[near] >= k, 1e-3, -1e-3)
    return backend.asarray(x)


def _host(m):
    return m.clone().type("torch.DoubleTensor")


class _Via:
    """The module, with its parameter attributes read from ``owner`` (a child)."""

    def __init__(self, m, owner):
        self.__dict__.update(m=m, owner=owner)

    def __getattr__(self, k):
        if k in ("weight", "bias", "gradWeight", "gradBias"):
            return getattr(self.owner, k)
        return getattr(self.m, k)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_reference(case, backend):
    m = backend.module(case.make())
    x = _input(backend, case, 7)
    expected = case.ref(_host(m) if backend.gpu else m, backend.tonp(x))
    got = m.forward(x)
    assert B.type_of(got) == backend.double
    got = backend.tonp(got)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.jacobian], ids=lambda c: c.name)
def test_jacobian_input(case, backend):
    m = backend.module(case.make())
    j_fd, j_bp = R.jacobian_input(m, _input(backend, case, 11))
    assert np.abs(j_fd - j_bp).max() < R.PRECISION


PARAM_CASES = [(c, p) for c in CASES for p in c.params]


@pytest.mark.parametrize("case,pname", PARAM_CASES, ids=[f"{c.name}-{p}" for c, p in PARAM_CASES])
def test_jacobian_parameters(case, pname, backend):
    m = backend.module(case.make())
    gname = "grad" + pname[0].upper() + pname[1:]
    j_fd, j_bp = R.jacobian_param(_Via(m, case.owner(m)), _input(backend, case, 13), pname, gname)
    assert np.abs(j_fd - j_bp).max() < R.PRECISION


@pytest.mark.parametrize("case", [c for c in CASES if c.params], ids=lambda c: c.name)
def test_acc_grad_parameters_accumulates_with_scale(case, backend):
    m = backend.module(case.make())
    x = _input(backend, case, 17)
    out = m.forward(x)
    g = backend.asarray(np.random.default_rng(1).standard_normal(out.shape))
    m.zeroGradParameters()
    m.backward(x, g)
    once = [backend.tonp(a).copy() for a in m.parameters()[1]]
    m.zeroGradParameters()
    m.backward(x, g, 0.25)
    m.backward(x, g, 0.75)
    m.accGradParameters(x, g, 1)
    for a, b in zip(m.parameters()[1], once):
        np.testing.assert_allclose(backend.tonp(a), 2 * b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clear_state_then_same_results(case, backend):
    m = backend.module(case.make())
    x = _input(backend, case, 19)
    y = backend.tonp(m.forward(x)).copy()
    g = backend.asarray(np.random.default_rng(2).standard_normal(y.shape))
    gi = backend.tonp(m.backward(x, g)).copy() if getattr(m, "train", True) else None
    assert m.clearState() is m
    for mod in m.listModules():
        for k in ("output", "gradInput"):
            v = getattr(mod, k)
            assert not B.is_array(v) or v.size == 0 or v is x, (mod, k)
    np.testing.assert_allclose(backend.tonp(m.forward(x)), y, rtol=1e-14, atol=0)
    if gi is not None:
        np.testing.assert_allclose(backend.tonp(m.backward(x, g)), gi, rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float_double_round_trip(case, backend):
    m = backend.module(case.make())
    x = _input(backend, case, 23)
    y64 = backend.tonp(m.forward(x)).copy()
    m.type(backend.float)
    assert m.type() == backend.float
    for a in (m.parameters() or [[]])[0]:
        assert a.dtype == np.float32
    y32 = m.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    if getattr(m, "train", True):
        gi = m.backward(x.astype(np.float32), backend.xp.ones(y32.shape, np.float32))
        assert gi.dtype == np.float32
    np.testing.assert_allclose(backend.tonp(y32), y64, rtol=1e-4, atol=1e-5)
    m.type(backend.double)
    np.testing.assert_allclose(backend.tonp(m.forward(x)), y64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_print_is_lua_string(case):
    m = case.make()
    assert str(m) == case.text and repr(m) == case.text


# --- in-place variants against their copying twins ------------------------------------
INPLACE = [
    ("HardTanh", lambda: nn.HardTanh(-1, 1, True), lambda: nn.HardTanh(-1, 1), "output"),
    ("ReLU6", lambda: nn.ReLU6(True), nn.ReLU6, "output"),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.1, True), lambda: nn.LeakyReLU(0.1), "output"),
    ("ELU", lambda: nn.ELU(1, True), nn.ELU, "output"),
    ("RReLU-evaluate", lambda: nn.RReLU(0.1, 0.3, True).evaluate(),
     lambda: nn.RReLU(0.1, 0.3).evaluate(), "output"),
    ("RReLU-train", fixed(lambda: nn.RReLU(0.1, 0.3, True), 0.1, 0.3, (3, 4)),
     fixed(lambda: nn.RReLU(0.1, 0.3), 0.1, 0.3, (3, 4)), "output"),
    ("AddConstant", lambda: nn.AddConstant(-0.5, True), lambda: nn.AddConstant(-0.5), "input"),
    ("MulConstant", lambda: nn.MulConstant(-1.5, True), lambda: nn.MulConstant(-1.5), "input"),
    ("CReLU", lambda: nn.CReLU(1, True), lambda: nn.CReLU(1), "input"),
]  # fmt: skip


@pytest.mark.parametrize(
    "make_ip,make,after", [c[1:] for c in INPLACE], ids=[c[0] for c in INPLACE]
)
def test_inplace_matches_copying_twin(make_ip, make, after, backend):
    """Same numbers; the input (and gradOutput) are overwritten as Lua's; the input is
    left holding the output, or restored by backward (AddConstant, MulConstant)."""
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-8, 8, (3, 4))
    g0 = rng.standard_normal((3, 4 * (2 if "CReLU" in str(make()) else 1)))
    ip, twin = backend.module(make_ip()), backend.module(make())
    x, g = backend.asarray(x0.copy()), backend.asarray(g0.copy())
    y = ip.forward(x)
    y_twin = backend.tonp(twin.forward(backend.asarray(x0.copy())))
    np.testing.assert_allclose(backend.tonp(y), y_twin, rtol=1e-15)
    gi = ip.backward(x, g)
    gi_twin = backend.tonp(twin.backward(backend.asarray(x0.copy()), backend.asarray(g0.copy())))
    np.testing.assert_allclose(backend.tonp(gi), gi_twin, rtol=1e-15)
    if isinstance(ip, nn.CReLU):
        np.testing.assert_array_equal(backend.tonp(x), x0)  # ReLU overwrites its own input
        return
    assert y is x and gi is g
    np.testing.assert_allclose(backend.tonp(x), x0 if after == "input" else y_twin, rtol=1e-15)


# --- stochastic modules ------------------------------------------------------------
def test_rrelu_draws_slopes_in_range_and_keeps_them_in_noise():
    m = nn.RReLU(0.1, 0.3)
    x = np.random.default_rng(0).standard_normal((200, 50))
    y = m.forward(x)
    neg = x <= 0
    assert np.all(m.noise[~neg] == 1)
    assert m.noise[neg].min() >= 0.1 and m.noise[neg].max() < 0.3
    assert abs(m.noise[neg].mean() - 0.2) < 0.005
    np.testing.assert_array_equal(y, x * m.noise)
    g = np.ones_like(x)
    np.testing.assert_array_equal(m.backward(x, g), m.noise)
    m.evaluate()
    np.testing.assert_allclose(m.forward(x), np.where(neg, 0.2 * x, x))


def test_rrelu_with_equal_bounds_is_leaky_in_backward():
    m = nn.RReLU(0.2, 0.2)
    x = np.array([-1.0, 2.0])
    np.testing.assert_allclose(m.forward(x), [-0.2, 2.0])
    np.testing.assert_allclose(m.backward(x, np.ones(2)), [0.2, 1.0])


def test_white_noise_draws_with_mean_and_std():
    m = nn.WhiteNoise(0.5, 2)
    x = np.zeros((400, 250))
    y = m.forward(x)
    np.testing.assert_array_equal(y, m.noise)
    assert abs(y.mean() - 0.5) < 0.02 and abs(y.std() - 2) < 0.02
    np.testing.assert_array_equal(m.backward(x, np.ones_like(x)), np.ones_like(x))


def test_white_noise_float32_draws_float32():
    m = nn.WhiteNoise().float()
    assert m.forward(np.zeros((3, 4), np.float32)).dtype == np.float32


def test_gradient_reversal_and_zero_grad_gradients():
    x = np.random.default_rng(0).standard_normal((3, 4))
    g = np.random.default_rng(1).standard_normal((3, 4))
    m = nn.GradientReversal(0.5)
    assert m.forward(x) is x
    np.testing.assert_array_equal(m.backward(x, g), -0.5 * g)
    np.testing.assert_array_equal(m.setLambda(2).backward(x, g), -2 * g)
    assert getattr(m, "lambda") == 2
    z = nn.ZeroGrad()
    assert z.forward(x) is x
    np.testing.assert_array_equal(z.backward(x, g), np.zeros_like(x))


# --- OneHot ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (2, 2), (2, 3, 2)])
def test_one_hot(shape, backend):
    idx = np.random.default_rng(0).integers(1, 6, shape)
    m = backend.module(nn.OneHot(5))
    out = m.forward(backend.xp.asarray(idx))
    assert B.type_of(out) == backend.double
    expected = np.zeros(shape + (5,))
    for pos in np.ndindex(*shape):
        expected[pos + (idx[pos] - 1,)] = 1
    np.testing.assert_array_equal(backend.tonp(out), expected)
    gi = m.backward(backend.xp.asarray(idx), out)
    assert gi.shape == shape and not backend.tonp(gi).any()
    m.type(backend.float)
    assert m.forward(backend.xp.asarray(idx)).dtype == np.float32


def test_one_hot_of_a_number_and_print():
    m = nn.OneHot(4)
    np.testing.assert_array_equal(m.forward(3), [0, 0, 1, 0])
    assert m.updateGradInput(3, m.output) == 0
    assert str(m) == "nn.OneHot"


# --- bad input: Lua's words where recorded, state unchanged --------------------------
def snapshot(m):
    return {
        (i, k): B.to_numpy(v).copy()
        for i, mod in enumerate(m.listModules())
        for k, v in vars(mod).items()
        if B.is_array(v)
    }


def assert_unchanged(before, m):
    after = snapshot(m)
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert after[k].shape == v.shape, k
        np.testing.assert_array_equal(after[k], v, err_msg=str(k))


def _nan_linear():
    return nn.NaN(nn.Linear(4, 3), 1)


BAD = [
    # (id, make, good input shape, call(m) -> raises, exception, message regex)
    ("PReLU-CxHxW", lambda: nn.PReLU(3), (2, 3, 2, 2), lambda m: m.forward(np.zeros((3, 2, 2))),
     ValueError, r"Wrong number of input planes\. Expected 3 but got 2\."),
    ("CMul-non-singleton", lambda: nn.CMul(3, 1), (3, 4), lambda m: m.forward(np.zeros((2, 3, 4))),
     ValueError, r"incorrect size: only supporting singleton expansion \(size=1\)"),
    ("CAdd-non-singleton", lambda: nn.CAdd(3, 1), (3, 4), lambda m: m.forward(np.zeros((2, 3, 4))),
     ValueError, r"incorrect size: only supporting singleton expansion \(size=1\)"),
    ("CMul-backward", lambda: nn.CMul(4), (3, 4),
     lambda m: m.backward(np.zeros((3, 5)), np.zeros((3, 5))), ValueError, r"singleton"),
    ("Add-size", lambda: nn.Add(4), (3, 4), lambda m: m.forward(np.zeros((3, 5))), ValueError,
     r"nn\.Add: expected input of shape \[4\] or a batch of N x 4 elements, got \[3 x 5\]"),
    ("GLU-odd", nn.GatedLinearUnit, (3, 4), lambda m: m.forward(np.zeros((3, 5))), ValueError,
     r"Halving dimension must be even, got size 5 at dim 2"),
    ("Normalize-3d", lambda: nn.Normalize(2), (3, 4), lambda m: m.forward(np.ones((2, 3, 4))),
     ValueError, r"only 1d layer supported.*\[2 x 3 x 4\]"),
    ("AddConstant-size", lambda: nn.AddConstant(np.array([1.0, 2, 3])), (2, 3),
     lambda m: m.forward(np.zeros((2, 4))), ValueError,
     r"input is not scalar or doesn't match with the dimension of constant!"),
    ("SoftMin-5d", nn.SoftMin, (3, 4), lambda m: m.forward(np.zeros((1, 2, 2, 2, 2))),
     ValueError, r"1D, 2D, 3D or 4D tensor expected"),
    ("OneHot-zero", lambda: nn.OneHot(3), None, lambda m: m.forward(np.array([1, 0])),
     IndexError, r"indices must be in 1\.\.3 \(1-based"),
    ("OneHot-large", lambda: nn.OneHot(3), None, lambda m: m.forward(np.array([4])),
     IndexError, r"got values from 4 to 4"),
    ("NaN-input", _nan_linear, (2, 4), lambda m: m.forward(np.full((2, 4), np.nan)),
     ValueError, r"^NaN found in input of module :\nnn\.NaN\(1\) @ nn\.Linear\(4 -> 3\)$"),
    ("NaN-gradOutput", _nan_linear, (2, 4),
     lambda m: m.backward(np.ones((2, 4)), np.full((2, 3), np.nan)), ValueError,
     r"NaN found in gradOutput of module"),
    ("WhiteNoise-evaluate-backward", lambda: nn.WhiteNoise().evaluate(), None,
     lambda m: m.backward(np.zeros(3), np.zeros(3)), RuntimeError,
     r"backprop only defined while training"),
    ("wrong-type", nn.LeakyReLU, (3, 4), lambda m: m.forward(np.zeros(3, np.float32)),
     TypeError, r"expected input of type torch\.DoubleTensor"),
    ("gradOutput-shape", nn.ELU, (3, 4),
     lambda m: m.backward(np.ones((3, 4)), np.ones((4, 3))), ValueError,
     r"expected gradOutput of shape \[3 x 4\], got \[4 x 3\]"),
]  # fmt: skip


@pytest.mark.parametrize("make,shape,call,exc,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(make, shape, call, exc, match):
    m = make()
    if shape is not None:
        x = np.random.default_rng(0).uniform(0.1, 1, shape)
        m.forward(x)
        m.backward(x, np.ones_like(m.output))
    before = snapshot(m)
    with pytest.raises(exc, match=match):
        call(m)
    assert_unchanged(before, m)


@pytest.mark.filterwarnings("ignore:invalid value")
def test_nan_gradparameters_leave_the_gradients_as_they_were():
    m = nn.NaN(nn.Linear(2, 2), 3)
    x = np.ones((1, 2))
    m.forward(x)
    m.zeroGradParameters()
    m.backward(x, np.ones((1, 2)))
    before = snapshot(m)
    bad = np.array([[np.inf, 1.0]])
    with pytest.raises(ValueError, match=r"NaN found in gradParameters of module :\nnn\.NaN\(3\)"):
        m.accGradParameters(bad, np.array([[0.0, 1.0]]))
    assert_unchanged(before, m)
    m.accGradParameters(x, np.ones((1, 2)))
    np.testing.assert_array_equal(m.modules[0].gradWeight, 2 * np.ones((2, 2)))


def test_nan_parameters_and_output_are_named():
    m = nn.NaN(nn.Linear(2, 2), "fc")
    m.modules[0].weight[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN found in parameters of module :\nnn.NaN\(fc\)"):
        m.forward(np.ones((1, 2)))
    m = nn.NaN(nn.Log())
    with pytest.raises(
        ValueError, match=r"NaN found in output of module :\nnn\.NaN\(\d+\) @ nn\.Log"
    ):
        m.forward(-np.ones(2))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: nn.HardTanh(1, -1), ValueError, "max_value must be larger than min_value"),
        (lambda: nn.LeakyReLU(0.1, 1), TypeError, "in-place flag must be boolean"),
        (lambda: nn.LeakyReLU("a"), TypeError, r"nn\.LeakyReLU\(value\)"),
        (lambda: nn.RReLU(0.5, 0.1), ValueError, "lower <= upper"),
        (lambda: nn.MulConstant("a"), TypeError, "input is not scalar!"),
        (lambda: nn.Normalize(0), ValueError, "0-norm not supported"),
        (lambda: nn.Power("x"), TypeError, r"nn\.Power\(power\)"),
        (lambda: nn.Constant("x"), TypeError, "Expecting number or tensor at arg 1"),
        (lambda: nn.CMul(2, 0.5), ValueError, "expected positive sizes"),
        (lambda: nn.PReLU(2.5), ValueError, "nOutputPlane must be a whole number"),
    ],
)
def test_bad_constructor_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_lua_defaults_and_fields():
    assert (nn.HardTanh().min_val, nn.HardTanh().max_val, nn.HardTanh().inplace) == (-1, 1, False)
    assert nn.LeakyReLU(None, None).negval == 0.01
    r = nn.RReLU()
    assert (r.lower, r.upper, r.inplace, r.train) == (1 / 8, 1 / 3, False, True)
    assert (nn.SoftPlus().beta, nn.SoftPlus().threshold) == (1, 20)
    assert getattr(nn.HardShrink(), "lambda") == 0.5 and getattr(nn.SoftShrink(), "lambda") == 0.5
    assert nn.Normalize(2).eps == 1e-10 and nn.Sqrt().eps == 0
    p = nn.PReLU()
    assert p.nOutputPlane == 0 and p.weight.tolist() == [0.25]
    assert nn.PReLU(3).weight.tolist() == [0.25] * 3
    c = nn.CMul((2, 3))
    assert c.weight.shape == (2, 3) and c.size.tolist() == [2, 3]
    assert np.abs(c.weight).max() <= 1 / np.sqrt(6)
    assert nn.Add(1, True).bias.shape == (1,) and nn.Add(5).bias.shape == (5,)
    assert -1 <= nn.Mul().weight[0] <= 1
    assert nn.CReLU(3).nInputDims == 3 and len(nn.Maxout(4, 3, 2, nn.Tanh()).modules) == 4
    assert nn.GatedLinearUnit().dim is None and getattr(nn.GradientReversal(), "lambda") == 1
