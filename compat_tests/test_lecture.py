"""The lecture's worked examples (shared/lecture.txt) as tests."""

from fractions import Fraction

import numpy as np
import pytest

import nnlegacy as nn


def box_filter(pad):
    conv = nn.SpatialConvolution(1, 1, 3, 1, 1, 1, pad, 0)
    conv.weight[...] = 1 / 3
    conv.bias[...] = 0
    return conv


SIGNAL = [4, 3, 2, -5, 3, 5, 2, 5, 5, 6]


def as_fractions(values):
    return [Fraction(float(v)).limit_denominator(3) for v in values]


def test_box_filter_shrink():
    out = box_filter(0).forward(np.array(SIGNAL, float).reshape(1, 1, 10))
    assert out.shape == (1, 1, 8)
    expected = [3, 0, 0, 1, Fraction(10, 3), 4, 4, Fraction(16, 3)]
    assert as_fractions(out.ravel()) == expected
    np.testing.assert_allclose(out.ravel(), [float(f) for f in expected], rtol=1e-15, atol=1e-14)


def test_box_filter_zero_padded():
    out = box_filter(1).forward(np.array(SIGNAL, float).reshape(1, 1, 10))
    expected = [Fraction(7, 3), 3, 0, 0, 1, Fraction(10, 3), 4, 4, Fraction(16, 3), Fraction(11, 3)]
    assert as_fractions(out.ravel()) == expected


@pytest.mark.parametrize("stride,size", [(1, 5), (2, 3), (3, 2)])
def test_7x7_input_3x3_filter_strides(stride, size):
    conv = nn.SpatialConvolution(1, 1, 3, 3, stride, stride)
    out = conv.forward(np.random.randn(1, 7, 7))
    assert out.shape == (1, size, size)


def test_stride_3_drops_the_last_column_silently():
    # (7 - 3) / 3 + 1 = 2.33: Torch keeps 2 windows (columns 1-3 and 4-6); column 7 is dropped
    conv = nn.SpatialConvolution(1, 1, 3, 3, 3, 3)
    x = np.random.randn(1, 7, 7)
    y = conv.forward(x)
    x2 = x.copy()
    x2[:, 6, :] = 1e6
    x2[:, :, 6] = 1e6
    np.testing.assert_array_equal(conv.forward(x2), y)


def test_padding_1_keeps_7x7():
    assert nn.SpatialConvolution(1, 1, 3, 3, 1, 1, 1, 1).forward(
        np.random.randn(1, 7, 7)
    ).shape == (1, 7, 7)


def test_32x32x3_ten_5x5_filters_pad_2():
    conv = nn.SpatialConvolution(3, 10, 5, 5, 1, 1, 2, 2)
    assert conv.forward(np.random.randn(3, 32, 32)).shape == (10, 32, 32)
    assert conv.weight.size + conv.bias.size == 760  # (5*5*3 + 1) * 10


def test_alexnet_first_layer():
    conv = nn.SpatialConvolution(3, 96, 11, 11, 4, 4)
    out = conv.forward(np.random.randn(3, 227, 227).astype(np.float64))
    assert out.shape == (96, 55, 55)
    n = conv.weight.size + conv.bias.size
    assert n == (11 * 11 * 3 + 1) * 96 == 34944  # the lecture's "35K"
    assert round(n / 1000) == 35


def test_lenet_feature_maps():
    # Conv 5x5 -> 6, pool 2, conv 5x5 -> 16, pool 2: 32 -> 28 -> 14 -> 10 -> 5
    net = nn.Sequential()
    net.add(nn.SpatialConvolution(1, 6, 5, 5)).add(nn.SpatialMaxPooling(2, 2, 2, 2))
    net.add(nn.SpatialConvolution(6, 16, 5, 5)).add(nn.SpatialMaxPooling(2, 2, 2, 2))
    net.forward(np.random.randn(2, 1, 32, 32))
    shapes = [m.output.shape for m in net.modules]
    assert shapes == [(2, 6, 28, 28), (2, 6, 14, 14), (2, 16, 10, 10), (2, 16, 5, 5)]
