"""SpatialMaxPooling: the size table of spec 2.4, indices, ties, the edge cases."""

import numpy as np
import pytest
import reference as R

import nnlegacy as nn

# (H, k, d, pad, floor, ceil) from spec section 2.4
SIZE_TABLE = [
    (8, 3, 2, 0, 3, 4),
    (6, 3, 2, 0, 2, 3),
    (6, 3, 2, 1, 3, 4),
    (5, 2, 2, 1, 3, 3),
    (7, 3, 2, 1, 4, 4),
    (112, 3, 2, 0, 55, 56),
    (13, 3, 2, 0, 6, 6),
    (32, 2, 2, 0, 16, 16),
    (227, 3, 2, 0, 113, 113),
]


@pytest.mark.parametrize("h,k,d,pad,floor,ceil", SIZE_TABLE)
def test_size_table(h, k, d, pad, floor, ceil, backend):
    x = backend.asarray(np.random.randn(1, h, h))
    f = backend.module(nn.SpatialMaxPooling(k, k, d, d, pad, pad))
    c = backend.module(nn.SpatialMaxPooling(k, k, d, d, pad, pad).ceil())
    assert f.forward(x).shape == (1, floor, floor)
    assert c.forward(x).shape == (1, ceil, ceil)
    assert c.floor().forward(x).shape == (1, floor, floor)


def test_ceil_8x8_and_112():
    assert nn.SpatialMaxPooling(3, 3, 2, 2).ceil().forward(np.zeros((1, 8, 8))).shape == (1, 4, 4)
    assert nn.SpatialMaxPooling(3, 3, 2, 2).forward(np.zeros((1, 8, 8))).shape == (1, 3, 3)


@pytest.mark.parametrize(
    "k,d,pad,ceil",
    [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), (2, 3, 0, True), (4, 3, 2, True)],
)
def test_indices_are_one_based_in_plane(k, d, pad, ceil, backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8))
    m = nn.SpatialMaxPooling(k, k, d, d, pad, pad)
    if ceil:
        m.ceil()
    m = backend.module(m)
    out = m.forward(backend.asarray(x))
    ref_out, ref_idx = R.maxpool_loops(x, k, k, d, d, pad, pad, ceil)
    np.testing.assert_array_equal(backend.tonp(out), ref_out)
    np.testing.assert_array_equal(backend.tonp(m.indices), ref_idx)
    assert m.indices.dtype == np.int64


def test_ties_go_to_the_first_maximum_in_row_major_order():
    m = nn.SpatialMaxPooling(2, 2, 2, 2)
    m.forward(np.ones((1, 2, 2)))
    assert m.indices.tolist() == [[[1]]]
    x = np.array([[[0.0, 5.0], [5.0, 5.0]]])
    m.forward(x)
    assert m.indices.tolist() == [[[2]]]


def test_backward_accumulates_on_overlapping_windows():
    m = nn.SpatialMaxPooling(3, 3, 1, 1)
    x = np.zeros((1, 4, 4))
    x[0, 1, 1] = 10  # inside all four 3x3 windows
    m.forward(x)
    g = m.backward(x, np.ones((1, 2, 2)))
    assert g[0, 1, 1] == 4 and g.sum() == 4


def test_backward_matches_indices_scatter(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 7, 6))
    m = backend.module(nn.SpatialMaxPooling(3, 2, 2, 1, 1, 1).ceil())
    out = m.forward(backend.asarray(x))
    go = rng.standard_normal(out.shape)
    gi = backend.tonp(m.backward(backend.asarray(x), backend.asarray(go)))
    idx = backend.tonp(m.indices)
    expected = np.zeros_like(x).reshape(2, 2, -1)
    for a in range(2):
        for c in range(2):
            np.add.at(expected[a, c], idx[a, c].ravel() - 1, go[a, c].ravel())
    np.testing.assert_allclose(gi, expected.reshape(x.shape), rtol=1e-12)


def test_ceil_without_padding_can_make_an_empty_window():
    # spec 2.4 edge case: H=4, k=1, d=4, ceil -> 2 outputs, the second window is empty
    m = nn.SpatialMaxPooling(1, 1, 4, 4).ceil()
    out = m.forward(np.arange(16.0).reshape(1, 4, 4))
    assert out.shape == (1, 2, 2)
    assert out[0, 0, 0] == 0 and np.isneginf(out[0, 1, 1])
    assert m.indices[0, 0, 0] == 1 and m.indices[0, 1, 1] == 0


def test_stride_defaults_to_kernel():
    m = nn.SpatialMaxPooling(3, 2)
    assert (m.dW, m.dH, m.padW, m.padH, m.ceil_mode) == (3, 2, 0, 0, False)
