"""The convolution family of issue 14 (dilated, depthwise, local, map, subsampling,
temporal, volumetric) against plain loop references, by one table of cases.

For every case: forward against an independent float64 reference written with loops over
output positions (no nnlegacy kernel is used), batch and single input, finite-difference
Jacobians for the input and every parameter, clearState, the float/double round trip, the
print-out, and a CuPy-vs-NumPy run through the ``backend`` fixture. Then Lua's recorded
bad-input errors (golden ``index.json``) and others, each leaving the module unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import reference as R
from test_errors import run_and_check

import nnlegacy as nn
from nnlegacy.kernels import unfold as KU


# --- loop references (float64) ---------------------------------------------------------
def _out_size(size, k, d, p, dil=1):
    return int((size + 2 * p - (dil * (k - 1) + 1)) / d) + 1


def conv_ref(x, w, b, d, pad, dil=None):
    """Direct N-d convolution: x (N, C, *S), w (O, C, *k), loops over output positions."""
    nd = x.ndim - 2
    dil = dil or (1,) * nd
    k = w.shape[2:]
    xp = np.zeros(x.shape[:2] + tuple(s + 2 * p for s, p in zip(x.shape[2:], pad)))
    xp[(Ellipsis, *(slice(p, p + s) for s, p in zip(x.shape[2:], pad)))] = x
    out_sz = [_out_size(*a) for a in zip(x.shape[2:], k, d, pad, dil)]
    out = np.zeros((x.shape[0], w.shape[0], *out_sz))
    for pos in itertools.product(*(range(o) for o in out_sz)):
        sl = tuple(
            slice(q * s, q * s + dl * (kk - 1) + 1, dl) for q, s, dl, kk in zip(pos, d, dil, k)
        )
        patch = xp[(slice(None), slice(None), *sl)]
        out[(slice(None), slice(None), *pos)] = np.tensordot(
            patch, w, axes=(list(range(1, nd + 2)), list(range(1, nd + 2)))
        )
    if b is not None:
        out += b.reshape((1, -1) + (1,) * nd)
    return out


def full_conv_ref(x, w, b, d, pad, adj):
    """Transposed convolution by scattering each input element: w (C, O, *k)."""
    nd = x.ndim - 2
    k = w.shape[2:]
    full = [(i - 1) * s + kk + a for i, s, kk, a in zip(x.shape[2:], d, k, adj)]
    out = np.zeros((x.shape[0], w.shape[1], *full))
    for pos in itertools.product(*(range(i) for i in x.shape[2:])):
        sl = tuple(slice(q * s, q * s + kk) for q, s, kk in zip(pos, d, k))
        out[(slice(None), slice(None), *sl)] += np.einsum(
            "nc,co...->no...", x[(slice(None), slice(None), *pos)], w
        )
    out = out[(Ellipsis, *(slice(p, f - p) for p, f in zip(pad, full)))]
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * nd)
    return out


def _batched(fn, nd):
    """Apply a batch reference to a single input too."""
    return lambda m, x: fn(m, x) if x.ndim == nd + 2 else fn(m, x[None])[0]


def ref_dilated(m, x):
    return conv_ref(x, m.weight, m.bias, (m.dH, m.dW), (m.padH, m.padW), (m.dilationH, m.dilationW))


def ref_volumetric(m, x):
    dil = tuple(getattr(m, "dilation" + a, 1) for a in "THW")
    return conv_ref(x, m.weight, m.bias, (m.dT, m.dH, m.dW), (m.padT, m.padH, m.padW), dil)


def ref_volfull(m, x):
    d, pad, adj = (m.dT, m.dH, m.dW), (m.padT, m.padH, m.padW), (m.adjT, m.adjH, m.adjW)
    return full_conv_ref(x, m.weight, m.bias, d, pad, adj)


def ref_depthwise(m, x):
    c, mult = m.nInputPlane, m.nOutputPlane
    w = m.weight.reshape(mult, c, m.kH, m.kW)
    out = []
    for i in range(c):
        for j in range(mult):
            b = None if m.bias is None else m.bias.reshape(mult, c)[j, i : i + 1]
            out.append(
                conv_ref(x[:, i : i + 1], w[j, i][None, None], b, (m.dH, m.dW), (m.padH, m.padW))
            )
    return np.concatenate(out, axis=1)


def ref_local(m, x):
    xp = np.zeros(x.shape[:2] + (x.shape[2] + 2 * m.padH, x.shape[3] + 2 * m.padW))
    xp[:, :, m.padH : m.padH + x.shape[2], m.padW : m.padW + x.shape[3]] = x
    out = np.zeros((x.shape[0], m.nOutputPlane, m.oH, m.oW))
    for i in range(m.oH):
        for j in range(m.oW):
            patch = xp[:, :, i * m.dH : i * m.dH + m.kH, j * m.dW : j * m.dW + m.kW]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, m.weight[i, j]) + m.bias[:, i, j]
    return out


def ref_map(m, x):
    conn = m.connTable.astype(int) - 1
    oh, ow = (x.shape[2] - m.kH) // m.dH + 1, (x.shape[3] - m.kW) // m.dW + 1
    out = np.zeros((x.shape[0], m.nOutputPlane, oh, ow)) + m.bias[None, :, None, None]
    for k, (i, o) in enumerate(conn):
        out[:, o : o + 1] += conv_ref(
            x[:, i : i + 1], m.weight[k][None, None], None, (m.dH, m.dW), (0, 0)
        )
    return out


def ref_fullmap(m, x):
    conn = m.connTable.astype(int) - 1
    oh, ow = (x.shape[1] - 1) * m.dH + m.kH, (x.shape[2] - 1) * m.dW + m.kW
    out = np.zeros((m.nOutputPlane, oh, ow)) + m.bias[:, None, None]
    for k, (i, o) in enumerate(conn):
        w = m.weight[k][None, None]
        out[o] += full_conv_ref(x[None, i : i + 1], w, None, (m.dH, m.dW), (0, 0), (0, 0))[0, 0]
    return out


def subsample_ref(x, weight, bias, k, d):
    """x (N, C, *S): bias + weight * window sums."""
    nd = len(k)
    w = np.ones((x.shape[1], 1, *k))
    sums = np.concatenate(
        [conv_ref(x[:, c : c + 1], w[c : c + 1], None, d, (0,) * nd) for c in range(x.shape[1])],
        axis=1,
    )
    shape = (1, -1) + (1,) * nd
    return sums * weight.reshape(shape) + bias.reshape(shape)


def ref_spatial_sub(m, x):
    return subsample_ref(x, m.weight, m.bias, (m.kH, m.kW), (m.dH, m.dW))


def ref_temporal_conv(m, x):
    """x (T, F) or (N, T, F): each output frame is W @ (kW frames, flattened) + b."""
    xb = x if x.ndim == 3 else x[None]
    n_out = (xb.shape[1] - m.kW) // m.dW + 1
    out = np.stack(
        [
            xb[:, t * m.dW : t * m.dW + m.kW].reshape(xb.shape[0], -1) @ m.weight.T + m.bias
            for t in range(n_out)
        ],
        axis=1,
    )
    return out if x.ndim == 3 else out[0]


def ref_temporal_sub(m, x):
    xb = (x if x.ndim == 3 else x[None]).transpose(0, 2, 1)
    out = subsample_ref(xb, m.weight, m.bias, (m.kW,), (m.dW,)).transpose(0, 2, 1)
    return out if x.ndim == 3 else out[0]


def ref_row(m, x):
    xb = x if x.ndim == 3 else x[None]
    xb = xb if m.featFirst else xb.transpose(0, 2, 1)  # (N, F, T)
    n_out = (xb.shape[2] - m.kW) // m.dW + 1
    out = np.zeros((xb.shape[0], xb.shape[1], n_out))
    for t in range(n_out):
        out[:, :, t] = (xb[:, :, t * m.dW : t * m.dW + m.kW] * m.weight[:, 0]).sum(-1)
    if m.bias is not None:
        out += m.bias[None, :, None]
    out = out if m.featFirst else out.transpose(0, 2, 1)
    return out if x.ndim == 3 else out[0]


# --- the table of cases ------------------------------------------------------------------
@dataclass
class Case:
    name: str
    make: Callable
    shapes: list  # input shapes: one batch and one single where the module has both
    ref: Callable
    text: str
    params: list = field(default_factory=lambda: ["weight", "bias"])


CASES = [
    Case(
        "SpatialDilated",
        lambda: nn.SpatialDilatedConvolution(2, 3, 3, 2, 2, 1, 1, 0, 2, 3),
        [(2, 2, 7, 9), (2, 7, 9)],
        _batched(ref_dilated, 2),
        "nn.SpatialDilatedConvolution(2 -> 3, 3x2, 2,1, 1,0, 2,3)",
    ),
    Case(
        "SpatialDilated-noBias",
        lambda: nn.SpatialDilatedConvolution(1, 2, 2, 2, 1, 1, 0, 0, 2, 2).noBias(),
        [(1, 5, 5)],
        _batched(ref_dilated, 2),
        "nn.SpatialDilatedConvolution(1 -> 2, 2x2, 2,2) without bias",
        ["weight"],
    ),
    Case(
        "SpatialDepthWise",
        lambda: nn.SpatialDepthWiseConvolution(2, 3, 3, 2, 2, 1, 1, 0),
        [(2, 2, 5, 6), (2, 5, 6)],
        _batched(ref_depthwise, 2),
        "nn.SpatialDepthWiseConvolution(2 -> 3, 3x2, 2,1, 1,0)",
    ),
    Case(
        "SpatialConvolutionLocal",
        lambda: nn.SpatialConvolutionLocal(2, 3, 5, 4, 3, 2, 2, 1, 1, 0),
        [(2, 2, 4, 5), (2, 4, 5)],
        _batched(ref_local, 2),
        "nn.SpatialConvolutionLocal(2 -> 3, 5x4, 3x2, 2,1, 1,0)",
    ),
    Case(
        "SpatialConvolutionMap-random",
        lambda: nn.SpatialConvolutionMap(nn.tables.random(3, 4, 2), 2, 3, 1, 2),
        [(2, 3, 6, 5), (3, 6, 5)],
        _batched(ref_map, 2),
        "nn.SpatialConvolutionMap",
    ),
    Case(
        "SpatialConvolutionMap-full-extra-plane",
        lambda: nn.SpatialConvolutionMap(nn.tables.full(2, 2), 2, 2),
        [(3, 4, 4)],
        _batched(ref_map, 2),
        "nn.SpatialConvolutionMap",
    ),
    Case(
        "SpatialFullConvolutionMap",
        lambda: nn.SpatialFullConvolutionMap(nn.tables.random(3, 2, 2), 3, 2, 2, 1),
        [(3, 3, 4)],
        ref_fullmap,
        "nn.SpatialFullConvolutionMap",
    ),
    Case(
        "SpatialSubSampling",
        lambda: nn.SpatialSubSampling(2, 3, 2, 2, 1),
        [(2, 2, 5, 6), (2, 5, 6)],
        _batched(ref_spatial_sub, 2),
        "nn.SpatialSubSampling",
    ),
    Case(
        "TemporalConvolution",
        lambda: nn.TemporalConvolution(3, 2, 3, 2),
        [(2, 8, 3), (7, 3)],
        ref_temporal_conv,
        "nn.TemporalConvolution",
    ),
    Case(
        "TemporalSubSampling",
        lambda: nn.TemporalSubSampling(3, 3, 2),
        [(2, 8, 3), (7, 3)],
        ref_temporal_sub,
        "nn.TemporalSubSampling",
    ),
    Case(
        "TemporalRowConvolution",
        lambda: nn.TemporalRowConvolution(3, 3, 2),
        [(2, 8, 3), (7, 3)],
        ref_row,
        "nn.TemporalRowConvolution(3, 3, 2)",
    ),
    Case(
        "TemporalRowConvolution-featFirst-noBias",
        lambda: nn.TemporalRowConvolution(2, 2, 1, True).noBias(),
        [(2, 2, 5), (2, 6)],
        ref_row,
        "nn.TemporalRowConvolution(2, 2) without bias",
        ["weight"],
    ),
    Case(
        "VolumetricConvolution",
        lambda: nn.VolumetricConvolution(2, 2, 2, 3, 2, 1, 2, 1, 1, 0, 1),
        [(2, 2, 3, 4, 5), (2, 3, 4, 5)],
        _batched(ref_volumetric, 3),
        "nn.VolumetricConvolution(2 -> 2, 2x3x2, 1,2,1, 1,0,1)",
    ),
    Case(
        "VolumetricDilated",
        lambda: nn.VolumetricDilatedConvolution(1, 2, 2, 2, 2, 1, 1, 2, 0, 1, 0, 2, 1, 2),
        [(2, 1, 4, 6, 3), (1, 4, 6, 3)],
        _batched(ref_volumetric, 3),
        "nn.VolumetricDilatedConvolution(1 -> 2, 2x2x2, 1,1,2, 0,1,0, 2,1,2)",
    ),
    Case(
        "VolumetricFull",
        lambda: nn.VolumetricFullConvolution(2, 1, 2, 3, 2, 2, 2, 1, 0, 1, 0, 1, 1, 0),
        [(2, 2, 2, 3, 2), (2, 2, 3, 2)],
        _batched(ref_volfull, 3),
        "nn.VolumetricFullConvolution(2 -> 1, 2x3x2, 2,2,1, 0,1,0, 1,1,0)",
    ),
]
IDS = [c.name for c in CASES]


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_against_loop_reference(case):
    m = case.make()
    for shape in case.shapes:
        x = _input(shape)
        np.testing.assert_allclose(m.forward(x), case.ref(m, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jacobians(case):
    m = case.make()
    for shape in case.shapes:
        x = _input(shape, 1)
        fd, bp = R.jacobian_input(m, x)
        np.testing.assert_allclose(bp, fd, atol=R.PRECISION)
        for p in case.params:
            fd, bp = R.jacobian_param(m, x, p, "grad" + p[0].upper() + p[1:])
            np.testing.assert_allclose(bp, fd, atol=R.PRECISION, err_msg=p)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_accumulates_with_scale(case):
    m = case.make()
    x = _input(case.shapes[0], 2)
    go = _input(m.forward(x).shape, 3)
    m.zeroGradParameters()
    m.backward(x, go)
    once = [g.copy() for g in m.parameters()[1]]
    m.backward(x, go, 0.5)
    for a, g in zip(once, m.parameters()[1]):
        np.testing.assert_allclose(g, 1.5 * a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_print_clear_state_and_type_round_trip(case):
    m = case.make()
    assert str(m) == case.text
    x = _input(case.shapes[0], 4)
    y = m.forward(x).copy()
    m.backward(x, np.ones_like(y))
    m.clearState()
    assert m.output.size == 0 and m.gradInput.size == 0
    m.float()
    y32 = m.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y, rtol=1e-4, atol=1e-4)
    gi = m.backward(x.astype(np.float32), np.ones_like(y32))
    assert gi.dtype == np.float32 and all(g.dtype == np.float32 for g in m.parameters()[1])
    m.double()  # the weights went through float32
    out = m.forward(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cupy_matches_numpy(case, backend):
    m = case.make()
    x = _input(case.shapes[0], 5)
    g = backend.module(m.clone())
    y = m.forward(x).copy()
    go = _input(y.shape, 6)
    m.zeroGradParameters()
    gi = m.backward(x, go).copy()
    grads = [a.copy() for a in m.parameters()[1]]
    g.zeroGradParameters()
    np.testing.assert_allclose(backend.tonp(g.forward(backend.asarray(x))), y, rtol=1e-10)
    got = g.backward(backend.asarray(x), backend.asarray(go))
    np.testing.assert_allclose(backend.tonp(got), gi, rtol=1e-10, atol=1e-12)
    for a, b in zip(g.parameters()[1], grads):
        np.testing.assert_allclose(backend.tonp(a), b, rtol=1e-10, atol=1e-12)


# --- unfold/fold: adjoint of each other, and the rule for sizes -----------------------------
def test_fold_is_the_adjoint_of_unfold():
    rng = np.random.default_rng(7)
    for shape, k, d, pad, dil in [
        ((2, 3, 11), (3,), (2,), (1,), (2,)),
        ((1, 2, 7, 6), (2, 3), (2, 1), (1, 0), (2, 1)),
        ((2, 1, 4, 5, 6), (2, 2, 3), (1, 2, 2), (0, 1, 1), (2, 1, 1)),
    ]:
        g = KU.Unfold(shape, k, d, pad, dil)
        x = rng.standard_normal(shape)
        c = rng.standard_normal(g.cols_shape)
        assert np.isclose((KU.unfold(x, g) * c).sum(), (x * KU.fold(c, g)).sum())


def test_output_size_rule_is_c_division_with_dropped_edges():
    assert KU.conv_output_size(7, 3, 3, 0) == 2  # the lecture's stride-3 case: one edge dropped
    assert KU.dropped(7, 3, 3, 0) == 1
    assert KU.conv_output_size(5, 3, 1, 2, 2) == 5  # dilation 2, pad 2 keeps the size
    assert KU.conv_output_size(2, 3, 1, 0) == 0  # C division: -1 // 1 + 1 with truncation


# --- errors ------------------------------------------------------------------------------
# Lua's texts from golden/index.json bad_input_errors (the 'at file:line' tail dropped)
LUA_ERRORS = [
    (
        lambda: nn.TemporalConvolution(3, 4, 2),
        (5, 4),
        r"invalid input frame size. Got: 4, Expected: 3",
    ),
    (
        lambda: nn.TemporalConvolution(3, 4, 3),
        (2, 3),
        r"input sequence smaller than kernel size. Got: 2, Expected: 3",
    ),
    (
        lambda: nn.TemporalConvolution(3, 4, 2),
        (5,),
        r"2D or 3D \(batch mode\) tensor expected for input, but got: \[5\]",
    ),
    (
        lambda: nn.VolumetricConvolution(3, 3, 2, 2, 2),
        (2, 3, 4, 4),
        r"size mismatch, m1: \[3 x 24\], m2: \[16 x 18\]",
    ),
    (
        lambda: nn.VolumetricConvolution(2, 3, 2, 2, 2),
        (2, 4, 4),
        r"4D or 5D \(batch mode\) tensor expected for input, but got: \[2 x 4 x 4\]",
    ),
    (
        lambda: nn.SpatialConvolutionLocal(2, 3, 5, 5, 3, 3),
        (2, 6, 6),
        r"Given input size: \(2x6x6\) inconsistent with expected input size: \(2x5x5\)\.",
    ),
]
MORE_ERRORS = [
    (
        lambda: nn.SpatialDilatedConvolution(2, 3, 3, 3, 1, 1, 0, 0, 2, 2),
        (2, 4, 4),
        r"Given input size: \(2 x 4 x 4\). Calculated output size: \(3 x 0 x 0\). "
        r"Output size is too small",
    ),
    (
        lambda: nn.SpatialDilatedConvolution(2, 3, 3, 3),
        (3, 5, 5),
        r"Need input of dimension 3 and input.size\[0\] == 2",
    ),
    (
        lambda: nn.SpatialDepthWiseConvolution(2, 2, 3, 3),
        (2, 2, 2),
        r"Given input size: \(2 x 2 x 2\). Calculated output size: \(2 x 0 x 0\)",
    ),
    (lambda: nn.SpatialSubSampling(2, 2, 2), (3, 4, 4), r"invalid number of input planes"),
    (lambda: nn.SpatialSubSampling(2, 3, 3), (2, 2, 4), r"input image smaller than kernel size"),
    (
        lambda: nn.SpatialConvolutionMap(nn.tables.full(3, 2), 2, 2),
        (2, 4, 4),
        r"invalid number of input planes",
    ),
    (
        lambda: nn.SpatialFullConvolutionMap(nn.tables.oneToOne(2), 2, 2),
        (1, 2, 4, 4),
        r"3D tensor expected",
    ),
    (
        lambda: nn.TemporalSubSampling(3, 2),
        (5, 4),
        r"invalid input frame size.  Got: 4, Expected: 3",
    ),
    (
        lambda: nn.TemporalRowConvolution(3, 4),
        (3, 3),
        r"Given input size: \(3 x 3\). Calculated output size: \(3 x 0\)",
    ),
    (
        lambda: nn.TemporalRowConvolution(3, 2),
        (5, 4),
        r"Need input of dimension 2 and input.size\[0\] == 3 but got input to be of shape: "
        r"\[4 x 5\]",
    ),
    (
        lambda: nn.VolumetricDilatedConvolution(2, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 2, 2, 2),
        (3, 4, 4, 4),
        r"input channels and nInputPlane dont match. Expected: 2, got 3",
    ),
    (
        lambda: nn.VolumetricFullConvolution(2, 2, 2, 2, 2),
        (3, 2, 2, 2),
        r"Need input of dimension 4 and input.size\[0\] == 2",
    ),
]


@pytest.mark.parametrize("make, shape, match", LUA_ERRORS + MORE_ERRORS)
def test_bad_input_is_a_clear_error_and_changes_nothing(make, shape, match):
    m = make()
    ok_shape = {
        nn.SpatialConvolutionLocal: (2, 5, 5),
        nn.VolumetricConvolution: (2, 3, 4, 4),
    }.get(type(m))
    if ok_shape is not None and ok_shape[0] == m.nInputPlane:
        m.forward(np.random.randn(*ok_shape))  # buffers exist and must survive
    run_and_check(m, lambda: m.forward(np.random.randn(*shape)), ValueError, match)


def test_bad_grad_output_changes_nothing():
    for m, x in [
        (nn.SpatialDilatedConvolution(2, 3, 3, 3, 1, 1, 1, 1, 2, 2), (2, 6, 6)),
        (nn.VolumetricFullConvolution(2, 2, 2, 2, 2), (2, 2, 3, 3)),
        (nn.TemporalConvolution(3, 4, 2), (5, 3)),
        (nn.SpatialDepthWiseConvolution(2, 2, 3, 3), (2, 5, 5)),
    ]:
        x = np.random.randn(*x)
        y = m.forward(x)
        bad = np.zeros(y.shape[:-1] + (y.shape[-1] + 1,))
        run_and_check(m, lambda m=m, x=x, bad=bad: m.backward(x, bad), ValueError, "gradOutput")
    m = nn.SpatialConvolutionLocal(2, 3, 5, 5, 3, 3)
    x = np.random.randn(2, 5, 5)
    m.forward(x)
    run_and_check(
        m,
        lambda: m.backward(x, np.zeros((3, 3, 2))),
        ValueError,
        r"Given output size: \(3x3x2\) inconsistent with expected output size: \(3x3x3\)\.",
    )


def test_constructor_errors():
    with pytest.raises(ValueError, match="dilation should be greater than zero"):
        nn.SpatialDilatedConvolution(1, 1, 3, 3, 1, 1, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="adjW, adjH and adjT must be smaller"):
        nn.VolumetricFullConvolution(1, 1, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1, 0, 0)
    with pytest.raises(ValueError, match="illegal configuration"):
        nn.SpatialConvolutionLocal(1, 1, 2, 2, 3, 3)
    with pytest.raises(ValueError, match="kW must be a whole number"):
        nn.TemporalConvolution(3, 4, 2.5)


# --- tables, defaults, loading -----------------------------------------------------------
def test_connection_tables_are_one_based():
    np.testing.assert_array_equal(nn.tables.full(2, 3)[:, 0], [1, 2, 1, 2, 1, 2])
    np.testing.assert_array_equal(nn.tables.full(2, 3)[:, 1], [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(nn.tables.oneToOne(3), [[1, 1], [2, 2], [3, 3]])
    t = nn.tables.random(5, 4, 2)
    assert t.shape == (8, 2) and t.dtype == np.float64
    np.testing.assert_array_equal(t[:, 1], [1, 1, 2, 2, 3, 3, 4, 4])
    for j in range(4):  # each output fed by distinct inputs in 1..5
        ins = t[2 * j : 2 * j + 2, 0]
        assert len(set(ins)) == 2 and ins.min() >= 1 and ins.max() <= 5
    m = nn.SpatialConvolutionMap(nn.tables.random(3, 4, 2), 3, 3)
    assert (m.nInputPlane, m.nOutputPlane, m.weight.shape) == (3, 4, (8, 3, 3))


def test_lua_defaults_and_reset_ranges():
    m = nn.VolumetricConvolution(2, 3, 3, 3, 3, 1, 1, 1, 1)
    assert (m.padT, m.padW, m.padH) == (1, 1, 1)  # padW defaults to padT, padH to padW
    assert np.abs(m.weight).max() <= 1 / np.sqrt(2 * 27)
    m = nn.SpatialDilatedConvolution(2, 3, 3, 3, 1, 1, 2)
    assert (m.padH, m.dilationW, m.dilationH) == (2, 1, 1)
    m = nn.SpatialSubSampling(3, 2, 2)
    assert np.abs(m.weight).max() <= 0.5 and m.weight.shape == (3,)
    m = nn.SpatialConvolutionMap(nn.tables.full(4, 2), 3, 3)
    assert np.abs(m.weight).max() <= 1 / np.sqrt(9 * 4)
    m = nn.TemporalRowConvolution(3, 2, None, 0)
    assert m.featFirst is True and m.dW == 1  # Lua: 0 is true


def test_dilated_is_a_spatial_convolution_and_round_trips_through_t7(tmp_path):
    m = nn.SpatialDilatedConvolution(2, 3, 3, 3, 1, 1, 2, 2, 2, 2)
    assert isinstance(m, nn.SpatialConvolution)
    x = np.random.randn(2, 2, 6, 6)
    y = m.forward(x)
    nn.save(tmp_path / "d.t7", m)
    back = nn.load(tmp_path / "d.t7")
    assert str(back) == str(m)
    np.testing.assert_allclose(back.forward(x), y)
    v = nn.VolumetricFullConvolution(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 0, 1)
    nn.save(tmp_path / "v.t7", v)
    x = np.random.randn(2, 2, 3, 3)
    np.testing.assert_allclose(nn.load(tmp_path / "v.t7").forward(x), v.forward(x))


# --- printshape (nnlegacy.summary) ---------------------------------------------------------
def _rows(net, shape):
    return [
        (r.output, r.params, r.mult_adds, r.kernel, r.note) for r in nn.summary(net, shape).rows[1:]
    ]


def test_summary_knows_the_family():
    net = (
        nn.Sequential()
        .add(nn.SpatialDilatedConvolution(3, 8, 3, 3, 2, 2, 1, 1, 2, 2))
        .add(nn.SpatialDepthWiseConvolution(8, 2, 3, 3))
        .add(nn.SpatialSubSampling(16, 2, 2, 2, 2))
        .add(nn.SpatialConvolutionMap(nn.tables.random(16, 4, 2), 2, 2))
        .add(nn.SpatialFullConvolution(4, 2, 3, 3, 2, 2))
    )
    assert _rows(net, (3, 17, 16)) == [
        # (17+2-5)//2+1 = 8 rows, (16+2-5)//2+1 = 7 cols; 12+5 = 17 of 18 padded cols used
        ("8x8x7", 224, 8 * 56 * 3 * 9, "3x3/2, pad 1, dil 2", "floor drops 1 col of the input"),
        ("16x6x5", 160, 16 * 30 * 9, "3x3/1", ""),
        ("16x3x2", 32, 16 * 6 * 4, "2x2/2", "floor drops 1 col of the input"),
        ("4x2x1", 8 * 4 + 4, 8 * 2 * 4, "2x2/1", ""),
        ("2x5x3", 74, 4 * 2 * 9 * 2, "3x3/2 transposed", ""),
    ]
    vol = (
        nn.Sequential()
        .add(nn.VolumetricConvolution(2, 4, 3, 3, 3, 2, 2, 2))
        .add(nn.VolumetricFullConvolution(4, 2, 2, 2, 2, 2, 2, 2))
    )
    assert _rows(vol, (2, 8, 9, 9)) == [
        ("4x3x4x4", 220, 4 * 48 * 2 * 27, "3x3x3/2", "floor drops 1 frame of the input"),
        ("2x6x8x8", 66, 4 * 2 * 8 * 48, "2x2x2/2 transposed", ""),
    ]
    seq = (
        nn.Sequential()
        .add(nn.TemporalConvolution(5, 6, 3, 2))
        .add(nn.TemporalRowConvolution(6, 2))
        .add(nn.TemporalSubSampling(6, 2, 2))
    )
    assert _rows(seq, (10, 5)) == [
        ("4x6", 96, 4 * 5 * 6 * 3, "3/2", "floor drops 1 frame of the input"),
        ("3x6", 18, 3 * 6 * 2, "2/1", ""),
        ("1x6", 12, 6 * 2, "2/2", "floor drops 1 frame of the input"),
    ]
