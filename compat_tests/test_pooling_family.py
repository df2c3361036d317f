"""Pooling, padding, upsampling, local normalisation and volumetric modules (issue 14).

A declarative table of cases drives the generic checks (forward against plain loop
references, float64 Jacobians, batch against one-by-one, float/double, clearState,
CuPy against NumPy); hand-written tests follow for print-outs, errors and edge cases.
"""

import itertools
import math

import numpy as np
import pytest
import reference as R

import nnlegacy as nn


# --- plain loop references (independent of the kernels) --------------------------------
def _out(size, k, d, p, dl, ceil):
    span = dl * (k - 1) + 1
    o = (math.ceil if ceil else math.floor)((size - span + 2 * p) / d) + 1
    return o - 1 if p and (o - 1) * d >= size + p else o


def maxpool_loops(x, ks, ds, pads, dils, ceil=False):
    """x (N, C, *S): max over each window, -inf where a window holds no input."""
    sizes = x.shape[2:]
    outs = [_out(*a, ceil) for a in zip(sizes, ks, ds, pads, dils)]
    y = np.full(x.shape[:2] + tuple(outs), -np.inf)
    for o in itertools.product(*(range(n) for n in outs)):
        for off in itertools.product(*(range(k) for k in ks)):
            pos = [oi * d - p + j * dl for oi, d, p, j, dl in zip(o, ds, pads, off, dils)]
            if all(0 <= q < s for q, s in zip(pos, sizes)):
                sl = (slice(None), slice(None), *o)
                y[sl] = np.maximum(y[sl], x[(slice(None), slice(None), *pos)])
    return y


def avgpool3d_loops(x, ks, ds):
    outs = [(s - k) // d + 1 for s, k, d in zip(x.shape[2:], ks, ds)]
    y = np.zeros(x.shape[:2] + tuple(outs))
    for o in itertools.product(*(range(n) for n in outs)):
        win = tuple(slice(oi * d, oi * d + k) for oi, d, k in zip(o, ds, ks))
        y[(slice(None), slice(None), *o)] = x[(slice(None), slice(None), *win)].mean(axis=(2, 3, 4))
    return y


def adaptive_loops(x, oh, ow, reduce):
    h, w = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        y0 = int(np.floor(np.float32(i) / np.float32(oh) * np.float32(h)))
        y1 = int(np.ceil(np.float32(i + 1) / np.float32(oh) * np.float32(h)))
        for j in range(ow):
            x0 = int(np.floor(np.float32(j) / np.float32(ow) * np.float32(w)))
            x1 = int(np.ceil(np.float32(j + 1) / np.float32(ow) * np.float32(w)))
            y[..., i, j] = reduce(x[..., y0:y1, x0:x1], axis=(-2, -1))
    return y


def fractional_loops(x, samples, pools, outs):
    """x (N, C, *S); samples (N, C, rank) already in the axis order of S."""
    y = np.zeros(x.shape[:2] + tuple(outs))
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        seqs = []
        for a, (s, o, p) in enumerate(zip(x.shape[2:], outs, pools)):
            u = samples[n, c, a]
            alpha = (s - p) / (o - 1) if o > 1 else 0.0
            seq = [int((i + u) * alpha) - int(u * alpha) for i in range(o - 1)] + [s - p]
            seqs.append(seq)
        for o in itertools.product(*(range(k) for k in outs)):
            win = tuple(slice(sq[i], sq[i] + p) for sq, i, p in zip(seqs, o, pools))
            y[(n, c, *o)] = x[(n, c, *win)].max()
    return y


def bilinear_loops(x, oh, ow):
    h, w = x.shape[-2:]
    rh = np.float32(h - 1) / np.float32(oh - 1) if oh > 1 else np.float32(0)
    rw = np.float32(w - 1) / np.float32(ow - 1) if ow > 1 else np.float32(0)
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        hr = rh * np.float32(i)
        h1 = int(hr)
        hp = 1 if h1 < h - 1 else 0
        l1 = float(hr - np.float32(h1))
        for j in range(ow):
            wr = rw * np.float32(j)
            w1 = int(wr)
            wp = 1 if w1 < w - 1 else 0
            m1 = float(wr - np.float32(w1))
            y[..., i, j] = (1 - l1) * (
                (1 - m1) * x[..., h1, w1] + m1 * x[..., h1, w1 + wp]
            ) + l1 * ((1 - m1) * x[..., h1 + hp, w1] + m1 * x[..., h1 + hp, w1 + wp])
    return y


def local_mean_loops(x, k2):
    """sum over planes of the zero-padded correlation with k2, over its response to ones."""
    n, c, h, w = x.shape
    kh, kw = k2.shape

    def corr(s):
        out = np.zeros((s.shape[0], h, w))
        for i, j, a, b in itertools.product(range(h), range(w), range(kh), range(kw)):
            y, z = i + a - kh // 2, j + b - kw // 2
            if 0 <= y < h and 0 <= z < w:
                out[:, i, j] += k2[a, b] * s[:, :, y, z].sum(axis=1)
        return out

    return corr(x) / corr(np.ones((1, c, h, w)))


def featurelp_loops(x, width, stride, p, axis):
    f = x.shape[axis]
    o = (f - width) // stride + 1
    xs = np.moveaxis(x, axis, 0)
    y = np.stack([(xs[i * stride : i * stride + width] ** p).sum(0) ** (1 / p) for i in range(o)])
    return np.moveaxis(y, 0, axis)


# --- the table -------------------------------------------------------------------------
K3 = np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]])


def _fractional(cls, *args, rank):
    def make():
        m = cls(*args)
        m._fixed_noise = np.random.default_rng(7).uniform(0, 1, (2, 2, rank))
        return m

    return make


CASES = {
    # name: (factory, batch input shape, forward reference of x (N, ...) or None)
    "dilated_maxpool": (
        lambda: nn.SpatialDilatedMaxPooling(3, 2, 2, 1, 1, 1, 2, 2).ceil(),
        (2, 2, 7, 6),
        lambda x: maxpool_loops(x, (2, 3), (1, 2), (1, 1), (2, 2), True),
    ),
    "temporal_maxpool": (
        lambda: nn.TemporalMaxPooling(3, 2),
        (2, 8, 3),
        lambda x: maxpool_loops(x.swapaxes(1, 2), (3,), (2,), (0,), (1,)).swapaxes(1, 2),
    ),
    "volumetric_maxpool": (
        lambda: nn.VolumetricMaxPooling(2, 3, 2, 2, 2, 1, 1, 1, 1),
        (2, 2, 4, 5, 3),
        lambda x: maxpool_loops(x, (2, 2, 3), (2, 1, 2), (1, 1, 1), (1, 1, 1)),
    ),
    "volumetric_dilated_maxpool": (
        lambda: nn.VolumetricDilatedMaxPooling(2, 2, 2, 1, 1, 1, 0, 0, 0, 2, 1, 2).ceil(),
        (2, 2, 4, 4, 5),
        lambda x: maxpool_loops(x, (2, 2, 2), (1, 1, 1), (0, 0, 0), (2, 2, 1), True),
    ),
    "volumetric_avgpool": (
        lambda: nn.VolumetricAveragePooling(2, 2, 3, 1, 2, 1),
        (2, 2, 3, 5, 4),
        lambda x: avgpool3d_loops(x, (2, 3, 2), (1, 1, 2)),
    ),
    "fractional_spatial": (
        _fractional(nn.SpatialFractionalMaxPooling, 2, 3, 3, 2, rank=2),
        (2, 2, 5, 6),
        lambda x: fractional_loops(
            x, np.random.default_rng(7).uniform(0, 1, (2, 2, 2))[..., ::-1], (3, 2), (2, 3)
        ),
    ),
    "fractional_volumetric": (
        _fractional(nn.VolumetricFractionalMaxPooling, 2, 2, 2, 2, 3, 2, rank=3),
        (2, 2, 5, 6, 4),
        lambda x: fractional_loops(
            x, np.random.default_rng(7).uniform(0, 1, (2, 2, 3))[..., ::-1], (2, 2, 2), (2, 3, 2)
        ),
    ),
    "adaptive_max": (
        lambda: nn.SpatialAdaptiveMaxPooling(3, 2),
        (2, 2, 5, 7),
        lambda x: adaptive_loops(x, 2, 3, np.max),
    ),
    "adaptive_avg": (
        lambda: nn.SpatialAdaptiveAveragePooling(4, 3),
        (2, 2, 4, 3),
        lambda x: adaptive_loops(x, 3, 4, np.mean),
    ),
    "reflection_pad": (
        lambda: nn.SpatialReflectionPadding(2, 1, 0, 2),
        (2, 2, 3, 4),
        lambda x: np.pad(x, ((0, 0), (0, 0), (0, 2), (2, 1)), mode="reflect"),
    ),
    "replication_pad": (
        lambda: nn.SpatialReplicationPadding(1, 3, 2, 0),
        (2, 2, 3, 2),
        lambda x: np.pad(x, ((0, 0), (0, 0), (2, 0), (1, 3)), mode="edge"),
    ),
    "replication_pad_crop": (
        lambda: nn.SpatialReplicationPadding(-1, 2, 1, -1),
        (2, 2, 3, 4),
        lambda x: np.pad(x[:, :, :-1, 1:], ((0, 0), (0, 0), (1, 0), (0, 2)), mode="edge"),
    ),
    "volumetric_replication_pad": (
        lambda: nn.VolumetricReplicationPadding(1, 0, 2, 1, 1, 2),
        (2, 2, 2, 3, 2),
        lambda x: np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 1), (1, 0)), mode="edge"),
    ),
    "upsample_nearest": (
        lambda: nn.SpatialUpSamplingNearest(3),
        (2, 2, 2, 3),
        lambda x: x.repeat(3, axis=2).repeat(3, axis=3),
    ),
    "upsample_bilinear": (
        lambda: nn.SpatialUpSamplingBilinear({"oheight": 5, "owidth": 7}),
        (2, 2, 3, 4),
        lambda x: bilinear_loops(x, 5, 7),
    ),
    "upsampling_linear_3d": (
        lambda: nn.UpSampling(2, "trilinear"),
        (1, 2, 2, 3, 2),
        None,
    ),
    "subtractive": (
        lambda: nn.SpatialSubtractiveNormalization(2, K3),
        (2, 2, 5, 4),
        lambda x: x - local_mean_loops(x, K3 / 32)[:, None],
    ),
    "subtractive_1d": (
        lambda: nn.SpatialSubtractiveNormalization(3, np.array([1.0, 3, 1])),
        (2, 3, 4, 5),
        lambda x: x - local_mean_loops(x, np.outer([1, 3, 1], [1, 3, 1]))[:, None],
    ),
    "divisive": (
        lambda: nn.SpatialDivisiveNormalization(2, K3, 0.2, 0.3),
        (2, 2, 4, 4),
        None,
    ),
    "contrastive": (
        lambda: nn.SpatialContrastiveNormalization(2, np.array([1.0, 2, 1])),
        (2, 2, 4, 5),
        None,
    ),
    "feature_lp": (
        lambda: nn.FeatureLPPooling(3, 2, 2, True),
        (2, 7, 3),
        lambda x: featurelp_loops(x, 3, 2, 2, 1),
    ),
    "kmax": (
        lambda: nn.TemporalDynamicKMaxPooling(2, 0.5),
        (2, 7, 3),
        lambda x: np.stack(
            [
                np.stack(
                    [x[n, sorted(np.argsort(-x[n, :, f])[:4]), f] for f in range(x.shape[2])], 1
                )
                for n in range(x.shape[0])
            ]
        ),
    ),
}
NO_SINGLE = {"fractional_spatial", "fractional_volumetric", "upsampling_linear_3d"}


def _input(name, shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_loop_reference(name):
    make, shape, ref = CASES[name]
    if ref is None:
        pytest.skip("checked by golden replay and Jacobian")
    x = _input(name, shape)
    np.testing.assert_allclose(make().forward(x), ref(x), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian(name):
    make, shape, _ = CASES[name]
    small = (1,) + shape[1:] if name not in NO_SINGLE else shape
    x = _input(name, small, seed=3)
    j_fd, j_bp = R.jacobian_input(make(), x)
    np.testing.assert_allclose(j_bp, j_fd, atol=1e-5)


@pytest.mark.parametrize("name", sorted(set(CASES) - NO_SINGLE))
def test_batch_equals_one_by_one(name):
    make, shape, _ = CASES[name]
    x = _input(name, shape, seed=5)
    m = make()
    out = m.forward(x).copy()
    g = np.random.default_rng(6).standard_normal(out.shape)
    gi = m.backward(x, g).copy()
    if name in ("feature_lp", "kmax", "temporal_maxpool"):
        return  # their non-batch form has fewer axes: checked below
    for i in range(shape[0]):
        one = make()
        np.testing.assert_allclose(one.forward(x[i]), out[i], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(one.backward(x[i], g[i]), gi[i], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_double_and_clear_state(name):
    make, shape, _ = CASES[name]
    x = _input(name, shape, seed=8)
    m = make()
    want = m.forward(x).copy()
    m.float()
    out = m.forward(x.astype(np.float32))
    assert out.dtype == np.float32
    gi = m.backward(x.astype(np.float32), np.ones(out.shape, np.float32))
    assert gi.dtype == np.float32 and gi.shape == x.shape
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    m.double()
    assert m.clearState() is m
    assert m.output.size == 0
    # a kernel held by the module went through float32, as in Torch
    np.testing.assert_allclose(m.forward(x), want, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cupy_matches_numpy(name, backend):
    make, shape, _ = CASES[name]
    x = _input(name, shape, seed=9)
    m = make()
    want = m.forward(x).copy()
    g = np.random.default_rng(10).standard_normal(want.shape)
    want_gi = m.backward(x, g).copy()
    b = backend.module(make())
    if getattr(b, "_fixed_noise", None) is not None:
        b._fixed_noise = backend.asarray(b._fixed_noise)
    out = b.forward(backend.asarray(x))
    gi = b.backward(backend.asarray(x), backend.asarray(g))
    np.testing.assert_allclose(backend.tonp(out), want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(backend.tonp(gi), want_gi, rtol=1e-12, atol=1e-13)


# --- indices, pairing, print-outs, errors ---------------------------------------------
def test_dilated_indices_are_one_based_flat_positions():
    x = _input("", (1, 6, 7))
    m = nn.SpatialDilatedMaxPooling(2, 2, 1, 1, 0, 0, 2, 3)
    out = m.forward(x)
    np.testing.assert_array_equal(x[0].ravel()[m.indices[0] - 1], out[0])


def test_unpooling_puts_values_back_and_routes_gradients():
    pool = nn.SpatialMaxPooling(2, 2)
    unpool = nn.SpatialMaxUnpooling(pool)
    x = _input("", (2, 3, 4, 6))
    y = pool.forward(x)
    u = unpool.forward(y)
    assert u.shape == x.shape
    np.testing.assert_array_equal(u[u != 0], x[u != 0])
    np.testing.assert_array_equal(maxpool_loops(u, (2, 2), (2, 2), (0, 0), (1, 1)), y)
    g = _input("", x.shape, 2)
    want = np.take_along_axis(g.reshape(6, -1), pool.indices.reshape(6, -1) - 1, axis=1)
    np.testing.assert_array_equal(unpool.backward(y, g), want.reshape(y.shape))
    j_fd, j_bp = R.jacobian_input(unpool, y.copy())
    np.testing.assert_allclose(j_bp, j_fd, atol=1e-5)


def test_volumetric_unpooling_inverts_its_pooling():
    pool = nn.VolumetricMaxPooling(2, 2, 2)
    unpool = nn.VolumetricMaxUnpooling(pool)
    x = _input("", (2, 4, 4, 6))
    y = pool.forward(x)
    u = unpool.forward(y)
    assert (u != 0).sum() == y.size
    np.testing.assert_array_equal(
        maxpool_loops(u[None], (2, 2, 2), (2, 2, 2), (0,) * 3, (1,) * 3)[0], y
    )
    j_fd, j_bp = R.jacobian_input(unpool, y.copy())
    np.testing.assert_allclose(j_bp, j_fd, atol=1e-5)


def test_unpooling_needs_a_matching_pooling_module():
    with pytest.raises(TypeError, match="nn.SpatialMaxPooling"):
        nn.SpatialMaxUnpooling(nn.SpatialAveragePooling(2, 2))
    with pytest.raises(ValueError, match="kernel must be equal to its stride"):
        nn.SpatialMaxUnpooling(nn.SpatialMaxPooling(3, 3, 2, 2))


def test_fractional_samples_are_kept_and_fixed():
    m = nn.SpatialFractionalMaxPooling(2, 2, 0.5, 0.5)
    x = _input("", (2, 3, 8, 8))
    m.forward(x)
    first = m.randomSamples.copy()
    assert first.shape == (2, 3, 2) and m.output.shape == (2, 3, 4, 4)
    m.forward(x)
    assert not np.array_equal(first, m.randomSamples)  # redrawn each call
    m.fixPoolingRegions()
    kept = m.randomSamples.copy()
    m.forward(x)
    np.testing.assert_array_equal(kept, m.randomSamples)


PRINTS = [
    (lambda: nn.SpatialDilatedMaxPooling(3, 3, 2, 2, 1, 1, 2, 2), "nn.SpatialDilatedMaxPooling(3x3, 2,2, 1,1, 2,2)"),
    (lambda: nn.VolumetricMaxPooling(3, 3, 3, 2, 2, 2, 1, 1, 1), "nn.VolumetricMaxPooling(3x3x3, 2,2,2, 1,1,1)"),
    (lambda: nn.VolumetricDilatedMaxPooling(2, 2, 2, 1, 1, 1, 0, 0, 0, 2, 2, 2), "nn.VolumetricDilatedMaxPooling(2x2x2, 1,1,1, 2,2,2)"),
    (lambda: nn.VolumetricAveragePooling(2, 2, 2, 1, 2, 2), "nn.VolumetricAveragePooling(2x2x2, 1,2,2)"),
    (lambda: nn.SpatialFractionalMaxPooling(3, 2, 3, 4), "nn.SpatialFractionalMaxPooling(3x4, 3,2)"),
    (lambda: nn.VolumetricFractionalMaxPooling(2, 2, 2, 0.5, 0.5, 0.5), "nn.VolumetricFractionalMaxPooling(0x0x0, 2,2,2)"),
    (lambda: nn.SpatialReflectionPadding(1, 2, 1, 0), "nn.SpatialReflectionPadding(l=1, r=2, t=1, b=0)"),
    (lambda: nn.VolumetricReplicationPadding(1, 0, 2, 1, 1, 1), "nn.VolumetricReplicationPadding(left=1, right=0, top=2, bottom=1, front=1, back=1)"),
    (lambda: nn.SpatialUpSamplingBilinear({"oheight": 5, "owidth": 4}), "nn.SpatialUpSamplingBilinear(5, 4)"),
    (lambda: nn.UpSampling({"oheight": 4, "owidth": 5}, "linear"), "nn.UpSampling(4x5, linear)"),
    (lambda: nn.UpSampling(2), "nn.UpSampling(2x, nearest)"),
    (lambda: nn.TemporalMaxPooling(2), "nn.TemporalMaxPooling"),
    (lambda: nn.SpatialMaxUnpooling(nn.SpatialMaxPooling(2, 2)), "nn.SpatialMaxUnpooling associated to nn.SpatialMaxPooling(2x2, 2,2)"),
    (lambda: nn.VolumetricDropout(0.5), "nn.VolumetricDropout(0.500000)"),
    (lambda: nn.VolumetricBatchNormalization(2), "nn.VolumetricBatchNormalization (5D) (2)"),
]  # fmt: skip


@pytest.mark.parametrize("make,want", PRINTS, ids=[w for _, w in PRINTS])
def test_print_out(make, want):
    assert str(make()) == want


def test_feature_lp_tostring_raises_as_in_lua_but_repr_works():
    m = nn.FeatureLPPooling(2, 2, 2, False)
    with pytest.raises(TypeError, match="number expected, got boolean"):
        m.__tostring__()
    assert repr(m) == "nn.FeatureLPPooling(2, 2, 2, false)"


BAD = [
    (lambda: nn.TemporalMaxPooling(4), (3, 2), "input sequence smaller than kernel size. Got: 3, Expected: 4"),
    (lambda: nn.VolumetricMaxPooling(3, 3, 3), (2, 2, 2, 2), "Given input size: (2x2x2x2). Calculated output size: (2x0x0x0). Output size is too small"),
    (lambda: nn.VolumetricMaxPooling(2, 2, 2), (2, 4, 4), "4D or 5D (batch mode) tensor expected for input, but got: [2 x 4 x 4]"),
    (lambda: nn.SpatialDilatedMaxPooling(3, 3, 1, 1, 0, 0, 3, 3), (1, 5, 5), "Output size is too small"),
    (lambda: nn.SpatialUpSamplingNearest(2), (3, 3), "SpatialUpSamplingNearest only support 3D or 4D tensors"),
    (lambda: nn.UpSampling(2), (2, 3, 3), "UpSampling only supports 4D or 5D tensors"),
    (lambda: nn.SpatialReflectionPadding(3), (1, 3, 3), "Padding size should be less than the corresponding input dimension"),
    (lambda: nn.SpatialReplicationPadding(1), (3, 3), "input must be 3 or 4-dimensional"),
    (lambda: nn.VolumetricAveragePooling(3, 3, 3), (1, 2, 4, 4), "input image (T: 2 H: 4 W: 4) smaller than kernel size"),
    (lambda: nn.SpatialAdaptiveMaxPooling(2, 2), (4, 4), "3D or 4D (batch mode) tensor expected"),
    (lambda: nn.SpatialSubtractiveNormalization(3), (2, 5, 5), "expected 3 x H x W"),
    (lambda: nn.TemporalDynamicKMaxPooling(5), (3, 2), "Input sequence length (3) too small for desired k value (5)"),
    (lambda: nn.SpatialFractionalMaxPooling(3, 3, 4, 4), (1, 5, 5), "too large relative to input size"),
    (lambda: nn.VolumetricDropout(), (2, 2, 2), "Input must be 5D (nbatch, nfeat, t, h, w) or 4D (nfeat, t, h, w)"),
    (lambda: nn.SpatialDilatedMaxPooling(2, 2, 1, 1, 0, 0, 0, 1), (1, 5, 5), "dilation should be greater than zero, but got dilationH: 1 dilationW: 0"),
    (lambda: nn.VolumetricMaxPooling(2, 2, 2, 1, 1, 1, 2, 0, 0), (1, 5, 5, 5), "pad should be smaller than half of kernel size, but got kT: 2 kW: 2, kH: 2, padT: 2, padW: 0, padH: 0"),
]  # fmt: skip


@pytest.mark.parametrize("make,shape,msg", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_and_leaves_state(make, shape, msg):
    m = make()
    before = {k: np.array(v) for k, v in vars(m).items() if isinstance(v, np.ndarray)}
    with pytest.raises((ValueError, TypeError, IndexError)) as info:
        m.forward(np.zeros(shape))
    assert msg in str(info.value)
    for k, v in before.items():
        assert np.array_equal(getattr(m, k), v), k


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.SpatialFractionalMaxPooling(1, 2, 3, 3),
        lambda: nn.SpatialSubtractiveNormalization(1, np.ones((2, 3))),
        lambda: nn.UpSampling({"oheight": 3, "owidth": 3}),
        lambda: nn.SpatialUpSamplingNearest(1.5),
    ],
)
def test_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_volumetric_dropout_keeps_whole_volumes_and_evaluates_scaled():
    m = nn.VolumetricDropout(0.5)
    x = np.ones((3, 4, 2, 2, 2))
    y = m.forward(x)
    assert m.noise.shape == (3, 4, 1, 1, 1)
    assert set(np.unique(y.reshape(12, -1).std(axis=1))) == {0.0}
    m.evaluate()
    np.testing.assert_array_equal(m.forward(x), x * 0.5)
    with pytest.raises(RuntimeError, match="backprop only defined while training"):
        m.backward(x, x)


def test_lp_pooling_is_a_sequential_of_lua_modules():
    if not hasattr(nn, "Square"):
        pytest.skip("nn.Square, nn.Power, nn.MulConstant, nn.Sqrt come from another family")
    m = nn.SpatialLPPooling(2, 2, 2, 2)
    x = _input("", (2, 4, 4))
    want = np.sqrt((x.reshape(2, 2, 2, 2, 2) ** 2).sum(axis=(2, 4)))
    # a kernel held by the module went through float32, as in Torch
    np.testing.assert_allclose(m.forward(x), want, rtol=1e-6)


# --- Lua's indices, from the golden files -----------------------------------------------
GOLDEN_INDICES = [
    "SpatialDilatedMaxPooling_1",
    "SpatialDilatedMaxPooling_2",
    "TemporalMaxPooling_2",
    "SpatialFractionalMaxPooling_1",
    "SpatialFractionalMaxPooling_3",
    "VolumetricFractionalMaxPooling_1",
    "SpatialAdaptiveMaxPooling_1",
    "SpatialAdaptiveMaxPooling_2",
    "TemporalDynamicKMaxPooling_2",
    "VolumetricMaxPooling_2",
    "VolumetricDilatedMaxPooling_1",
]


@pytest.mark.parametrize("stem", GOLDEN_INDICES)
def test_indices_equal_luas(stem):
    import os

    root = os.environ.get("NNLEGACY_GOLDEN_DIR")
    if not root:
        pytest.skip("set NNLEGACY_GOLDEN_DIR")
    rec = nn.load(os.path.join(root, "nn", stem + ".t7"))
    m = rec["module"]
    want = np.array(m.indices)
    if hasattr(m, "randomSamples"):
        m._fixed_noise = m.randomSamples
    m.forward(rec["input"])
    got = np.array(m.indices)
    if stem.startswith("Volumetric") and "Fractional" not in stem:
        want &= 0xFFFFFF  # bytes 0..2 are Lua's offsets; the rest is uninitialised memory
    np.testing.assert_array_equal(got, want)


def test_segnet_example_prints_shapes_and_runs_backward(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    import segnet_decoder

    net, out, gi = segnet_decoder.main(["--batch", "2", "--size", "16", "--classes", "3"])
    printed = capsys.readouterr().out
    assert "nn.SpatialMaxUnpooling associated to nn.SpatialMaxPooling(2x2, 2,2)" in printed
    assert "| 32x4x4 " in printed and "| 3x16x16 " in printed  # bottleneck and output rows
    assert out.shape == (2, 3, 16, 16) and gi.shape == (2, 3, 16, 16)
    grads = net.parameters()[1]
    assert all(np.isfinite(g).all() for g in grads) and any(np.abs(g).sum() > 0 for g in grads)
    unpool = net.findModules("nn.SpatialMaxUnpooling")[0]
    assert unpool.output.shape == (2, 32, 8, 8)
    assert (unpool.output != 0).sum() <= unpool.output.size // 4
