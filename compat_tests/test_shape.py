"""View and Reshape cases of spec 2.14 and 2.15."""

import numpy as np
import pytest

import nnlegacy as nn

VIEW_CASES = [
    (lambda: nn.View(5, 2), (10,), (5, 2)),
    (lambda: nn.View(5, 2), (5, 10), (5, 5, 2)),
    (lambda: nn.View(-1).setNumInputDims(1), (5, 10), (5, 10)),
    (lambda: nn.View(-1).setNumInputDims(2), (5, 4, 10), (5, 40)),
    (lambda: nn.View(4, -1).setNumInputDims(2), (2, 5, 4, 10), (10, 4, 10)),
    (lambda: nn.View(6), (5, 2, 6), (10, 6)),
    (lambda: nn.View(-1), (3, 4, 5), (60,)),
    (lambda: nn.View([2, 3]), (6,), (2, 3)),
]


@pytest.mark.parametrize("make,shape,expected", VIEW_CASES)
def test_view_cases(make, shape, expected):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    y = make().forward(x)
    assert y.shape == expected
    assert np.shares_memory(x, y)  # a view, no copy


def test_view_errors():
    with pytest.raises(ValueError, match="only one dimension can be at -1"):
        nn.View(-1, -1)
    with pytest.raises(ValueError, match="sizes should be positive or -1"):
        nn.View(2, -3)
    with pytest.raises(ValueError, match=r"input view \(7\) and desired view \(2x3\) do not match"):
        nn.View(2, 3).forward(np.zeros(7))
    with pytest.raises(ValueError, match="expecting a contiguous tensor"):
        nn.View(6).forward(np.zeros((3, 2)).T)


def test_view_backward_restores_input_shape():
    m = nn.View(6)
    x = np.random.randn(4, 2, 3)
    m.forward(x)
    assert m.backward(x, np.ones((4, 6))).shape == (4, 2, 3)


def test_reshape_batch_rules():
    assert nn.Reshape(5, 2).forward(np.zeros(10)).shape == (5, 2)
    assert nn.Reshape(5, 2).forward(np.zeros((3, 10))).shape == (3, 5, 2)
    # quirk: a 1 x nelement input is a batch of one
    assert nn.Reshape(5, 2).forward(np.zeros((1, 10))).shape == (1, 5, 2)
    assert nn.Reshape(10, False).forward(np.zeros((2, 5))).shape == (10,)
    assert nn.Reshape(5, 4, 3, True).forward(np.zeros((2, 60))).shape == (2, 5, 4, 3)
    # a non-contiguous input is copied, not refused
    assert nn.Reshape(6).forward(np.zeros((3, 2)).T).shape == (6,)


def test_reshape_print_uses_x():
    assert repr(nn.Reshape(5, 4, 3, True)) == "nn.Reshape(5x4x3)"
    assert repr(nn.View(5, 4, 3)) == "nn.View(5, 4, 3)"
