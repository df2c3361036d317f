"""Property tests (hypothesis): sizes and values against the loop references over random
legal parameters, and .t7 round trips of random nested Lua values."""

import numpy as np
import reference as R
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnlegacy as nn
from nnlegacy import t7

FAST = settings(max_examples=60, deadline=None)


@st.composite
def conv_case(draw):
    kH, kW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dH, dW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pH, pW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kH - 2 * pH), 9))
    w = draw(st.integers(max(1, kW - 2 * pW), 9))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31))
    return n, c, o, h, w, kH, kW, dH, dW, pH, pW, seed


@FAST
@given(conv_case())
def test_convolution_matches_loops(case):
    n, c, o, h, w, kH, kW, dH, dW, pH, pW, seed = case
    m = nn.SpatialConvolution(c, o, kW, kH, dW, dH, pW, pH)
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    y = m.forward(x)
    assert y.shape == (n, o, (h + 2 * pH - kH) // dH + 1, (w + 2 * pW - kW) // dW + 1)
    np.testing.assert_allclose(y, R.conv2d_loops(x, m.weight, m.bias, dH, dW, pH, pW), atol=1e-12)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    gi = m.backward(x, g)
    # <gradInput, dx> == <gradOutput, d(output)> for the linear map x -> conv(x) - bias
    dx = np.random.default_rng(seed + 2).standard_normal(x.shape)
    dy = R.conv2d_loops(dx, m.weight, None, dH, dW, pH, pW)
    assert np.isclose((gi * dx).sum(), (g * dy).sum(), rtol=1e-9, atol=1e-9)


@st.composite
def pool_case(draw):
    kH, kW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dH, dW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pH, pW = draw(st.integers(0, kH // 2)), draw(st.integers(0, kW // 2))
    ceil = draw(st.booleans())
    h = draw(st.integers(max(1, kH - 2 * pH), 10))
    w = draw(st.integers(max(1, kW - 2 * pW), 10))
    return kH, kW, dH, dW, pH, pW, ceil, h, w, draw(st.integers(0, 2**31))


@FAST
@given(pool_case())
def test_max_pooling_matches_loops(case):
    kH, kW, dH, dW, pH, pW, ceil, h, w, seed = case
    if R.pool_size(h, kH, dH, pH, ceil) < 1 or R.pool_size(w, kW, dW, pW, ceil) < 1:
        return
    m = nn.SpatialMaxPooling(kW, kH, dW, dH, pW, pH)
    if ceil:
        m.ceil()
    x = np.random.default_rng(seed).integers(-3, 3, (2, 2, h, w)).astype(float)  # many ties
    y = m.forward(x)
    ref, idx = R.maxpool_loops(x, kH, kW, dH, dW, pH, pW, ceil)
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(m.indices, idx)


@FAST
@given(pool_case(), st.booleans())
def test_average_pooling_matches_loops(case, include):
    kH, kW, dH, dW, pH, pW, ceil, h, w, seed = case
    if R.pool_size(h, kH, dH, pH, ceil) < 1 or R.pool_size(w, kW, dW, pW, ceil) < 1:
        return
    m = nn.SpatialAveragePooling(kW, kH, dW, dH, pW, pH)
    if ceil:
        m.ceil()
    if not include:
        m.setCountExcludePad()
    x = np.random.default_rng(seed).standard_normal((2, 2, h, w))
    np.testing.assert_allclose(
        m.forward(x), R.avgpool_loops(x, kH, kW, dH, dW, pH, pW, ceil, include), atol=1e-12
    )


arrays = hnp.arrays(
    st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8]),
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
)  # NaN and infinities included: they must survive too
scalars = st.one_of(
    st.booleans(), st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.text(max_size=8),
)  # fmt: skip
lua_values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=6), inner, min_size=1, max_size=4),
    ),
    max_leaves=10,
)


def same(a, b):
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=True)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b
    return (
        a == b and type(a) is type(b) or (isinstance(a, int) and not isinstance(a, bool) and a == b)
    )


@settings(max_examples=150, deadline=None)
@given(lua_values, st.sampled_from(["binary", "ascii"]))
def test_t7_round_trip_of_lua_values(value, fmt):
    back = t7.loads(t7.dumps(value, fmt))
    assert same(value, back), (value, back)
