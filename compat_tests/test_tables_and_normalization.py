"""Spec cases for the lecture-network modules: 2.5-2.8, 2.13, 2.17-2.19, 2.21-2.26."""

import numpy as np
import pytest
import reference as R

import nnlegacy as nn
from nnlegacy.kernels.pooling import avgpool_divisors


# --- average pooling divisors (spec 2.5) -------------------------------------------
@pytest.mark.parametrize(
    "size,k,d,p,ceil,include,expected",
    [
        (5, 3, 2, 1, False, True, [3, 3, 3]),
        (5, 3, 2, 1, False, False, [2, 3, 2]),
        (6, 3, 2, 0, True, True, [3, 3, 2]),
        (6, 3, 2, 0, True, False, [3, 3, 2]),
        (6, 3, 2, 1, True, True, [3, 3, 3, 2]),
        (6, 3, 2, 1, True, False, [2, 3, 3, 1]),
    ],
)
def test_average_pooling_divisors(size, k, d, p, ceil, include, expected):
    m = nn.SpatialAveragePooling(k, 1, d, 1, p, 0)
    if ceil:
        m.ceil()
    if not include:
        m.setCountExcludePad()
    x = np.ones((1, 1, size))
    assert m.forward(x).shape == (1, 1, len(expected))
    assert avgpool_divisors(size, k, d, p, len(expected), include).tolist() == expected
    # the module divides the in-image sum by those divisors
    sums = R.avgpool_loops(x[None], 1, k, 1, d, 0, p, ceil, False)[0, 0, 0]
    np.testing.assert_allclose(
        m.output[0, 0],
        sums
        * (
            np.array([min(s + k, size) - max(s, 0) for s in np.arange(len(expected)) * d - p])
            / expected
        ),
    )


def test_average_pooling_equals_subsampling_with_uniform_weights():
    # spec 2.5: with pad 0 it is SpatialSubSampling with weight 1/(kW*kH), bias 0
    x = np.random.randn(2, 3, 9, 8)
    y = nn.SpatialAveragePooling(3, 2, 2, 3).forward(x)
    conv = nn.SpatialConvolution(1, 1, 3, 2, 2, 3)
    conv.weight[...] = 1 / 6
    conv.bias[...] = 0
    ref = conv.forward(x.reshape(6, 1, 9, 8)).reshape(2, 3, *y.shape[2:])
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_average_pooling_legacy_sum_and_print():
    m = nn.SpatialAveragePooling(2, 2)
    m.divide = False
    np.testing.assert_allclose(m.forward(np.ones((1, 3, 3))), 4 * np.ones((1, 2, 2)))
    assert str(nn.SpatialAveragePooling(2, 2)) == "nn.SpatialAveragePooling(2x2, 1,1)"


# --- LRN -----------------------------------------------------------------------------
def test_lrn_batch_row_equals_single():
    x = np.random.rand(4, 7, 3, 3).astype(np.float32)
    m = nn.SpatialCrossMapLRN(5, 0.7, 0.4, 2).float()
    batch = m.forward(x)[1].copy()
    np.testing.assert_allclose(m.forward(x[1]), batch, rtol=1e-6)
    with pytest.raises(ValueError, match="Input must be 3D or 4D"):
        m.forward(np.zeros((3, 3), np.float32))


# --- batch normalization (spec 2.7, 2.8) ---------------------------------------------
def test_bn_init_and_running_stats_use_unbiased_variance():
    m = nn.BatchNormalization(3)
    assert m.train is True and np.all((m.weight >= 0) & (m.weight < 1)) and np.all(m.bias == 0)
    assert m.running_mean.tolist() == [0, 0, 0] and m.running_var.tolist() == [1, 1, 1]
    x = np.random.randn(6, 3) * 2 + 1
    m.forward(x)
    np.testing.assert_allclose(m.running_mean, 0.1 * x.mean(0))
    np.testing.assert_allclose(m.running_var, 0.9 + 0.1 * x.var(0, ddof=1))
    np.testing.assert_allclose(m.save_std, 1 / np.sqrt(x.var(0) + 1e-5))


def test_bn_batch_of_one_in_training_uses_running_stats():
    m = nn.SpatialBatchNormalization(2)
    m.running_mean[...] = [1.0, -1.0]
    m.running_var[...] = [4.0, 0.25]
    x = np.random.randn(1, 2, 3, 3)
    y = m.forward(x)
    np.testing.assert_allclose(
        y,
        R.batchnorm_ref(x, m.weight, m.bias, np.array([1.0, -1]), np.array([4, 0.25]), 1e-5, False),
    )
    assert m.running_mean.tolist() == [1.0, -1.0]  # not updated


def test_bn_evaluate_accepts_unbatched_input_and_errors():
    m = nn.SpatialBatchNormalization(3)
    with pytest.raises(
        ValueError, match=r"only mini-batch supported \(4D tensor\), got 3D tensor instead"
    ):
        m.forward(np.zeros((3, 2, 2)))
    m.evaluate()
    assert m.forward(np.random.randn(3, 2, 2)).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="got 4-feature tensor, expected 3"):
        m.forward(np.zeros((2, 4, 2, 2)))
    with pytest.raises(TypeError, match="Missing argument #1: dimensionality of input."):
        nn.BatchNormalization(None)
    with pytest.raises(TypeError, match="affine has to be true/false"):
        nn.BatchNormalization(3, 1e-5, 0.1, 1)
    assert nn.BatchNormalization(4, 1e-5, 0.1, False).parameters() is None


def test_bn_backward_needs_forward():
    m = nn.BatchNormalization(3)
    with pytest.raises(RuntimeError, match="must call :updateOutput"):
        m.backward(np.random.randn(4, 3), np.ones((4, 3)))


# --- dropout (spec 2.13) -------------------------------------------------------------
@pytest.mark.parametrize(
    "v1,inplace,fill", [(False, False, 0.8), (False, True, 0.8), (True, False, 1.0)]
)
def test_dropout_mean(v1, inplace, fill):
    m = nn.Dropout(0.2, v1, inplace)
    x = np.full(1000, fill)
    out = m.forward(x)
    target = 0.8 if not v1 else 0.8 * fill
    assert abs(out.mean() - target) < 0.05
    assert (out is x) == inplace
    zeros = out == 0
    assert 0.1 < zeros.mean() < 0.3
    g = m.backward(x, np.ones(1000))
    np.testing.assert_array_equal(g == 0, zeros)


def test_dropout_modes_and_errors():
    assert str(nn.Dropout()) == "nn.Dropout(0.500000)"
    with pytest.raises(ValueError, match="<Dropout> illegal percentage, must be 0 <= p < 1"):
        nn.Dropout(1)
    m = nn.Dropout(0.5).evaluate()
    x = np.random.randn(10)
    np.testing.assert_array_equal(m.forward(x), x)
    m = nn.Dropout(0.5, False, False, True).evaluate()  # stochastic inference
    assert (m.forward(np.ones(200)) == 0).any()


def test_spatial_dropout_drops_whole_maps():
    m = nn.SpatialDropout(0.5)
    out = m.forward(np.ones((4, 8, 3, 3)))
    per_map = out.reshape(32, 9)
    assert np.all((per_map == 0).all(1) | (per_map == 1).all(1))
    assert m.noise.shape == (4, 8, 1, 1)
    m.evaluate()
    np.testing.assert_allclose(m.forward(np.ones((8, 2, 2))), 0.5)
    with pytest.raises(RuntimeError, match="backprop only defined while training"):
        m.backward(np.ones((8, 2, 2)), np.ones((8, 2, 2)))
    assert str(m) == "nn.SpatialDropout(0.500000)"


# --- Narrow, Select, SpatialZeroPadding (spec 2.17-2.19) -----------------------------
@pytest.mark.parametrize(
    "a,b,shape",
    [
        ((1, 3, 5), (1, 3, -3), (9, 4, 14)),
        ((2, 5, 3), (2, 5, -4), (3, 10, 4)),
        ((3, 1, 1), (3, 1, -7), (6, 11, 7)),
        ((-2, 5, 3), (-2, 5, -4), (3, 10, 4)),
        ((2, -1, 7), (2, 1, 3), (3, 10, 4)),
    ],
)
def test_narrow_equivalences(a, b, shape):
    x = np.random.randn(*shape)
    ya = nn.Narrow(*a).forward(x)
    np.testing.assert_array_equal(ya, nn.Narrow(*b).forward(x))
    assert not np.shares_memory(ya, x)  # a copy


def test_narrow_backward_and_errors():
    m = nn.Narrow(1, 2, 2)
    x = np.arange(5.0)
    m.forward(x)
    assert m.backward(x, np.ones(2)).tolist() == [0, 1, 1, 0, 0]
    with pytest.raises(TypeError, match=r"nn.Narrow\(dimension, offset, length\)"):
        nn.Narrow(1)
    with pytest.raises(ValueError, match="do not fit"):
        nn.Narrow(1, 4, 3).forward(x)


def test_select_spec_cases():
    x = np.array([[4.0, 6, 7], [8, 0, 1]])
    assert nn.Select(1, -1).forward(x).tolist() == [8, 0, 1]
    assert nn.Select(1, -2).forward(x)[1] == 6
    assert nn.Select(-1, -1).forward(x).tolist() == [7, 1]
    m = nn.Select(2, 2)
    m.forward(x)
    assert m.backward(x, np.array([1.0, 2])).tolist() == [[0, 1, 0], [0, 2, 0]]
    with pytest.raises(ValueError, match=r"index 4 out of range 1..3"):
        nn.Select(2, 4).forward(x)


def test_zero_padding_errors():
    with pytest.raises(ValueError, match="input must be 3 or 4-dimensional"):
        nn.SpatialZeroPadding(1).forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="input is too small"):
        nn.SpatialZeroPadding(-2).forward(np.zeros((1, 3, 3)))
    assert str(nn.SpatialZeroPadding(1, 1, 1, 1)) == "nn.SpatialZeroPadding(l=1, r=1, t=1, b=1)"


# --- containers of the tree family (spec 2.21-2.24) ----------------------------------
CONCAT_TEXT = """nn.Concat {
  input
    |`-> (1): nn.SpatialConvolution(3 -> 8, 1x1)
     `-> (2): nn.Sequential {
           [input -> (1) -> (2) -> output]
           (1): nn.SpatialConvolution(3 -> 8, 3x3, 1,1, 1,1)
           (2): nn.ReLU
         }
     ... -> output
}"""

CONCATTABLE_TEXT = """nn.Sequential {
  [input -> (1) -> (2) -> output]
  (1): nn.ConcatTable {
    input
      |`-> (1): nn.Sequential {
      |      [input -> (1) -> (2) -> output]
      |      (1): nn.Linear(10 -> 20)
      |      (2): nn.ReLU
      |    }
       `-> (2): nn.Identity
       ... -> output
  }
  (2): nn.CAddTable
}"""


def test_tree_printouts():
    c = nn.Concat(2)
    c.add(nn.SpatialConvolution(3, 8, 1, 1))
    c.add(nn.Sequential().add(nn.SpatialConvolution(3, 8, 3, 3, 1, 1, 1, 1)).add(nn.ReLU()))
    assert str(c) == CONCAT_TEXT
    res = nn.Sequential()
    res.add(
        nn.ConcatTable()
        .add(nn.Sequential().add(nn.Linear(10, 20)).add(nn.ReLU()))
        .add(nn.Identity())
    )
    res.add(nn.CAddTable())
    assert str(res) == CONCATTABLE_TEXT
    assert str(nn.ConcatTable()) == "nn.ConcatTable {\n  input\n     ... -> output\n}"
    assert str(nn.DepthConcat(2)).startswith("nn.DepthConcat {")
    assert str(nn.ParallelTable()).startswith("nn.ParallelTable {")


@pytest.mark.parametrize("n", [1, 3])
def test_concat_spec_case(n):
    c = nn.Concat(1)
    for _ in range(n):
        lin = nn.Linear(2, 5)
        lin.weight.fill(1)
        lin.bias.fill(0)
        c.add(lin)
    x = np.random.randn(4, 2)
    out = c.forward(x)
    np.testing.assert_allclose(out, np.tile(np.repeat(x.sum(1, keepdims=True), 5, 1), (n, 1)))
    c.zeroGradParameters()
    gi = c.backward(x, np.ones(out.shape))
    np.testing.assert_allclose(gi, np.full((4, 2), n * 5.0))
    for lin in c.modules:
        np.testing.assert_allclose(lin.gradWeight, np.repeat(x.sum(0, keepdims=True), 5, 0))


def test_concat_jacobian():
    c = nn.Concat(2).add(nn.Linear(3, 2)).add(nn.Tanh())
    j_fd, j_bp = R.jacobian_input(c, np.random.uniform(-2, 2, (2, 3)))
    assert np.abs(j_fd - j_bp).max() < R.PRECISION


def test_depthconcat_spec_placement():
    m = nn.DepthConcat(2)
    convs = [nn.SpatialConvolution(3, o, k, k) for o, k in ((5, 1), (6, 3), (7, 4), (8, 5))]
    for conv in convs:
        m.add(conv)
    x = np.random.randn(2, 3, 12, 12)
    out = m.forward(x)
    assert out.shape == (2, 26, 12, 12)
    # Lua's 1-based windows {{},{1,5},{},{}}, {{},{6,11},{2,11},{2,11}}, {{},{12,18},{2,10},{2,10}}, {{},{19,26},{3,10},{3,10}}
    windows = [((0, 5), (0, 12)), ((5, 11), (1, 11)), ((11, 18), (1, 10)), ((18, 26), (2, 10))]
    for conv, ((c0, c1), (h0, h1)) in zip(convs, windows):
        np.testing.assert_array_equal(out[:, c0:c1, h0:h1, h0:h1], conv.output)
    assert out[:, 5:11, 0].sum() == 0 and out[:, 18:26, :, :2].sum() == 0
    j_fd, j_bp = R.jacobian_input(
        nn.DepthConcat(2)
        .add(nn.SpatialConvolution(1, 1, 1, 1))
        .add(nn.SpatialConvolution(1, 2, 2, 2)),
        np.random.uniform(-2, 2, (1, 1, 3, 3)),
    )
    assert np.abs(j_fd - j_bp).max() < R.PRECISION


def test_concattable_jacobian_and_variable_length():
    net = (
        nn.Sequential()
        .add(nn.ConcatTable().add(nn.Identity()).add(nn.Linear(3, 3)))
        .add(nn.JoinTable(1))
    )
    j_fd, j_bp = R.jacobian_input(net, np.random.uniform(-2, 2, 3))
    assert np.abs(j_fd - j_bp).max() < R.PRECISION
    ct = nn.ConcatTable().add(nn.Identity()).add(nn.Identity())
    a, b = np.random.randn(3), np.random.randn(3)
    ct.forward([a, b])
    gi = ct.backward([a, b], [[np.ones(3), np.ones(3)], [np.ones(3), np.ones(3)]])
    assert len(gi) == 2 and gi[0].tolist() == [2, 2, 2]
    ct.forward([a])
    assert len(ct.backward([a], [[np.ones(3)], [np.ones(3)]])) == 1


def test_paralleltable_transpose_spec_case():
    # Seq{SplitTable(1), ParallelTable{View(4,5,1) x3}, JoinTable(3)} on 3x4x5 == transpose(1,3):transpose(1,2)
    x = np.random.randn(3, 4, 5)
    pt = nn.ParallelTable()
    for _ in range(3):
        pt.add(nn.View(4, 5, 1))
    net = nn.Sequential().add(pt).add(nn.JoinTable(3))
    out = net.forward([x[0], x[1], x[2]])
    np.testing.assert_array_equal(out, x.transpose(2, 1, 0).transpose(1, 0, 2))
    gi = net.backward([x[0], x[1], x[2]], np.ones(out.shape))
    assert len(gi) == 3 and gi[0].shape == (4, 5)


def test_cadd_table_and_inplace():
    a, b, c = np.random.randn(2, 3), np.random.randn(2, 3), np.random.randn(2, 3)
    m = nn.CAddTable()
    np.testing.assert_allclose(m.forward([a, b, c]), a + b + c)
    g = np.random.randn(2, 3)
    gi = m.backward([a, b, c], g)
    assert len(gi) == 3 and all(np.array_equal(x, g) and x is not g for x in gi)
    a0 = a.copy()
    m = nn.CAddTable(True)
    out = m.forward([a, b])
    assert out is a and np.allclose(a, a0 + b)
    assert all(x is g for x in m.backward([a, b], g))


def test_join_table_dims():
    t = np.random.randn(3, 4, 5)
    for d in (1, 2, 3):
        shape = list(t.shape)
        shape[d - 1] *= 2
        assert nn.JoinTable(d).forward([t, t]).shape == tuple(shape)
    for d in (1, 2):
        shape = list(t.shape)
        shape[d] *= 2
        assert nn.JoinTable(d, 2).forward([t, t]).shape == tuple(shape)
    assert nn.JoinTable(-1).forward([t, t]).shape == (3, 4, 10)
    with pytest.raises(ValueError, match="inconsistent tensor size"):
        nn.JoinTable(1).forward([t, np.zeros((3, 5, 5))])


def test_residual_block_gradient():
    block = nn.Sequential()
    block.add(
        nn.ConcatTable().add(nn.Sequential().add(nn.Linear(3, 3)).add(nn.Tanh())).add(nn.Identity())
    )
    block.add(nn.CAddTable())
    j_fd, j_bp = R.jacobian_input(block, np.random.uniform(-2, 2, (2, 3)))
    assert np.abs(j_fd - j_bp).max() < R.PRECISION
    lin = block.get(1).get(1).get(1)
    x = np.random.uniform(-2, 2, (2, 3))
    y0 = block.forward(x).copy()
    g = np.random.randn(2, 3)
    block.zeroGradParameters()
    block.backward(x, g)
    h = 1e-6
    fd = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            lin.weight[i, j] += h
            plus = (block.forward(x) * g).sum()
            lin.weight[i, j] -= 2 * h
            minus = (block.forward(x) * g).sum()
            lin.weight[i, j] += h
            fd[i, j] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(lin.gradWeight, fd, atol=R.PRECISION)
    np.testing.assert_allclose(block.forward(x), y0)


def test_list_modules_spec_case():
    # Module_listModules: Seq{ConcatTable{Seq{Seq{Linear,Tanh,Reshape}, View, Linear, Tanh}, Identity}, CAddTable}
    linear, tanh, reshape = nn.Linear(10, 20), nn.Tanh(), nn.Reshape(20)
    mlp3 = nn.Sequential().add(linear).add(tanh).add(reshape)
    view, linear2, tanh2 = nn.View(20), nn.Linear(20, 20), nn.Tanh()
    mlp2 = nn.Sequential().add(mlp3).add(view).add(linear2).add(tanh2)
    ident = nn.Identity()
    concat = nn.ConcatTable().add(mlp2).add(ident)
    add = nn.CAddTable()
    mlp = nn.Sequential().add(concat).add(add)
    assert mlp.listModules() == [
        mlp,
        concat,
        mlp2,
        mlp3,
        linear,
        tanh,
        reshape,
        view,
        linear2,
        tanh2,
        ident,
        add,
    ]


def test_error_chain_through_concat():
    net = (
        nn.Sequential().add(nn.Identity()).add(nn.Concat(1).add(nn.Linear(1, 1))).add(nn.Identity())
    )
    with pytest.raises(ValueError) as e:
        net.forward(np.random.randn(1, 2, 2))
    assert str(e.value).startswith("In 2 module of nn.Sequential:\nIn 1 module of nn.Concat:\n")
    assert "input must be vector or matrix" in str(e.value)
