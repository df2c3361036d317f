"""Modules write into their previous output and gradInput on the CPU, as Lua's modules
write into their own tensors, but only where nothing else holds the previous array: a
caller who kept an output (or a view of it) keeps its values."""

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import module as M


def _conv(c, o, k, pad):
    return nn.SpatialConvolution(c, o, k, k, 1, 1, pad, pad)


# one module per CPU path: flat planes, column-free, unfold (stride 2), 1x1; pooling
MODULES = {
    "relu": (lambda: nn.ReLU(), (3, 4, 6, 6)),
    "conv flat planes": (lambda: _conv(2, 3, 3, 1), (3, 2, 9, 9)),
    "conv column-free": (lambda: _conv(32, 4, 3, 1), (2, 32, 12, 12)),
    "conv unfold": (lambda: nn.SpatialConvolution(3, 4, 3, 3, 2, 2), (2, 3, 9, 9)),
    "conv 1x1": (lambda: _conv(5, 4, 1, 0), (2, 5, 6, 6)),
    "max pooling": (lambda: nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1), (2, 3, 9, 9)),
    "max pooling 2x2": (lambda: nn.SpatialMaxPooling(2, 2, 2, 2), (2, 3, 8, 8)),
    "concat": (lambda: _concat(nn.Concat(2), 1), (2, 3, 6, 6)),
    "depth concat, padded": (lambda: _concat(nn.DepthConcat(2), 3), (2, 3, 6, 6)),
}


def _concat(container, k):
    """Two branches: a 1x1 convolution and a kxk one (smaller maps: DepthConcat pads)."""
    return container.add(_conv(3, 2, 1, 0)).add(_conv(3, 4, k, 0))


def _fresh(m, x, go, monkeypatch):
    """Output and gradInput of a copy of ``m`` writing new arrays (nothing reused)."""
    with monkeypatch.context() as patch:
        patch.setattr(M, "REUSE", False)
        c = m.clone()
        return c.forward(x).copy(), c.backward(x, go).copy()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_outputs_are_written_again_where_nothing_else_holds_them(name, monkeypatch):
    make, shape = MODULES[name]
    rng = np.random.default_rng(0)
    m = make()
    x0, x1 = rng.standard_normal(shape), rng.standard_normal(shape)
    m.forward(x0)
    go = rng.standard_normal(m.output.shape)
    m.backward(x0, go)
    out_id, gi_id = id(m.output), id(m.gradInput)
    m.forward(x1)
    gi = m.backward(x1, go * 2)
    assert id(m.output) == out_id and id(gi) == gi_id  # written again, as Lua's tensors
    want_out, want_gi = _fresh(m, x1, go * 2, monkeypatch)
    np.testing.assert_array_equal(m.output, want_out)
    np.testing.assert_array_equal(gi, want_gi)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_an_output_the_caller_kept_keeps_its_values(name):
    make, shape = MODULES[name]
    rng = np.random.default_rng(1)
    m = make()
    x0, x1 = rng.standard_normal(shape), rng.standard_normal(shape)
    y0 = m.forward(x0)
    go = rng.standard_normal(y0.shape)
    g0 = m.backward(x0, go)
    kept_y, kept_g = y0.copy(), g0.copy()
    view = m.output[:1]  # a view holds the array too
    del y0
    m.forward(x1)
    g1 = m.backward(x1, go * 3)
    np.testing.assert_array_equal(view, kept_y[:1])
    np.testing.assert_array_equal(g0, kept_g)
    assert g1 is not g0


def test_a_different_shape_or_type_gets_a_new_array():
    m = nn.ReLU()
    m.forward(np.ones((2, 3)))
    b = m.forward(-np.ones((3, 2)))
    assert b.shape == (3, 2) and not b.any()
    m.float()
    c = m.forward(np.ones((3, 2), np.float32))
    assert c.dtype == np.float32 and (c == 1).all()


def test_the_reference_count_of_an_unshared_array_is_measured_not_assumed():
    """_reusable compares against the count measured at import by the same code, so a
    second reference (however the interpreter counts) always blocks reuse."""
    holder = {"a": np.empty(4)}
    assert M._reusable(holder, "a", (4,), np.dtype(np.float64), M._UNSHARED) is holder["a"]
    other = holder["a"]
    assert M._reusable(holder, "a", (4,), np.dtype(np.float64), M._UNSHARED) is None
    del other
    view = holder["a"][1:]
    assert M._reusable(holder, "a", (4,), np.dtype(np.float64), M._UNSHARED) is None
    del view
    assert M._reusable(holder, "a", (4,), np.dtype(np.float32), M._UNSHARED) is None
    assert M._reusable(holder, "a", (5,), np.dtype(np.float64), M._UNSHARED) is None
    holder["a"].flags.writeable = False
    assert M._reusable(holder, "a", (4,), np.dtype(np.float64), M._UNSHARED) is None


def test_a_module_fed_its_own_output_gets_a_new_array():
    m = nn.ReLU()
    m.forward(np.array([-1.0, 2.0, -3.0]))
    y = m.forward(m.output)  # Lua would write over its input here; nnlegacy does not
    np.testing.assert_array_equal(y, [0.0, 2.0, 0.0])


def test_a_single_image_output_is_a_view_and_is_not_reused():
    """Without a batch dimension a convolution's or a pooling's output is a view of the
    batch's: each call gets its own, with the right values."""
    rng = np.random.default_rng(2)
    for m in (_conv(2, 3, 3, 1), nn.SpatialMaxPooling(2, 2, 2, 2)):
        x0, x1 = rng.standard_normal((2, 6, 6)), rng.standard_normal((2, 6, 6))
        y0 = m.forward(x0).copy()
        first = m.output
        y1 = m.forward(x1)
        assert first.base is not None and y1 is not first
        np.testing.assert_array_equal(first, y0)
        np.testing.assert_array_equal(y1, m.clone().forward(x1))
