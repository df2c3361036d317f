"""getParameters, clone and share: the behaviours of Torch's Module_getParameters_1..12."""

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy.backend import storage_of


def same_storage(a, b):
    return storage_of(a)[0] == storage_of(b)[0]


def seq(*mods):
    s = nn.Sequential()
    for m in mods:
        s.add(m)
    return s


def test_1_layout_weight_then_bias(backend):
    n = backend.module(seq(nn.Linear(10, 10)))
    w = backend.tonp(n.get(1).weight).copy()
    b = backend.tonp(n.get(1).bias).copy()
    p, g = n.getParameters()
    assert p.shape == (110,) and g.shape == (110,)
    np.testing.assert_array_equal(backend.tonp(p[:100]), w.ravel())
    np.testing.assert_array_equal(backend.tonp(p[100:110]), b)


def test_1_views_both_ways(backend):
    n = backend.module(seq(nn.Linear(3, 2)))
    p, g = n.getParameters()
    p[0] = 42
    assert float(n.get(1).weight[0, 0]) == 42
    n.get(1).bias[1] = -7
    assert float(p[7]) == -7
    g.fill(1)
    assert float(n.get(1).gradWeight.sum()) == 6
    n.zeroGradParameters()
    assert float(g.sum()) == 0


def test_2_flattening_again_after_add():
    n = seq(nn.Linear(10, 10))
    p, _ = n.getParameters()
    n.add(nn.Linear(10, 10))
    w2, b2 = n.get(2).weight.copy(), n.get(2).bias.copy()
    p, _ = n.getParameters()
    assert p.size == 220
    np.testing.assert_array_equal(p[110:210], w2.ravel())
    np.testing.assert_array_equal(p[210:220], b2)
    np.testing.assert_array_equal(p[:100], n.get(1).weight.ravel())


def test_3_4_clone_without_sharing_counts_twice():
    n = seq(nn.Linear(10, 10))
    n.add(n.get(1).clone())
    p, _ = n.getParameters()
    assert p.size == 220
    p[:] = 0
    n.get(1).weight[0, 0] = 1
    assert n.get(2).weight[0, 0] == 0


def test_5_6_clone_with_sharing_counts_once_and_stays_tied():
    n = seq(nn.Linear(10, 10))
    n.add(n.get(1).clone("weight", "bias", "gradWeight", "gradBias"))
    p, g = n.getParameters()
    assert p.size == 110 and g.size == 110
    np.testing.assert_array_equal(n.get(1).weight, n.get(2).weight)
    n.reset()
    np.testing.assert_array_equal(n.get(1).weight, n.get(2).weight)
    np.testing.assert_array_equal(p[:100], n.get(2).weight.ravel())


def test_7_8_modules_from_flattened_nets_keep_only_used_storage():
    n1 = seq(nn.Linear(10, 10))
    n2 = seq(nn.Linear(10, 10))
    seq(n1, n2).getParameters()
    w1 = n1.get(1).weight.copy()
    nf = seq(n1, nn.Linear(10, 1))
    p, _ = nf.getParameters()
    assert p.size == 121  # n1's 110 (holes of n2 compacted away) + 11
    np.testing.assert_array_equal(p[:100], w1.ravel())
    np.testing.assert_array_equal(p[:100], n1.get(1).weight.ravel())


def test_10_non_contiguous_but_compact():
    m = nn.Linear(10, 10)
    tmp = np.random.randn(11, 10)
    m.weight = tmp[:10].T  # transposed: not contiguous, but compact
    m.bias = tmp[10]
    m.gradWeight = np.zeros((10, 11))[:, :10]  # grads keep their own layout
    m.gradWeight = np.zeros((11, 10))[:10].T
    m.gradBias = np.zeros((11, 10))[10]
    w = m.weight.copy()
    p, _ = m.getParameters()
    assert p.size == 110
    np.testing.assert_array_equal(m.weight, w)
    assert m.weight.strides == (8, 80)  # original strides preserved
    assert same_storage(m.weight, m.bias)


def test_11_non_compact_is_an_error():
    m = nn.Linear(10, 10)
    m.bias = np.zeros((10, 2))[:, 1]  # a column: not compact, leaves holes
    m.gradBias = np.zeros((10, 2))[:, 1]
    with pytest.raises(RuntimeError, match="Cannot gather tensors that are not compact"):
        m.getParameters()


def test_12_expanded_tensors_count_once():
    m = nn.Linear(10, 10)
    m.weight = np.broadcast_to(np.random.randn(10, 1), (10, 10))
    m.gradWeight = np.broadcast_to(np.zeros((10, 1)), (10, 10))
    p, _ = m.getParameters()
    assert p.size == 20


def test_unshared_grads_and_misalignment_are_errors():
    a = nn.Linear(2, 2)
    b = nn.Linear(2, 2)
    b.share(a, "weight", "bias")  # params shared, grads not
    with pytest.raises(
        RuntimeError, match="check that you are sharing parameters and gradParameters"
    ):
        seq(a, b).getParameters()
    m = nn.Linear(2, 2)
    store = np.zeros(6)
    m.gradBias = store[:2]
    m.gradWeight = store[2:].reshape(2, 2)
    with pytest.raises(RuntimeError, match="misaligned parameter at 1"):
        m.getParameters()


def test_empty_net():
    p, g = seq(nn.ReLU()).getParameters()
    assert p.size == 0 and g.size == 0


def test_training_through_flat_arrays_matches_module_update():
    rng = np.random.default_rng(0)
    net = seq(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    ref = net.clone()
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    crit = nn.MSECriterion()
    p, g = net.getParameters()
    for _ in range(3):
        g.fill(0)
        crit.forward(net.forward(x), y)
        net.backward(x, crit.backward(net.output, y))
        p -= 0.1 * g
        ref.zeroGradParameters()
        crit.forward(ref.forward(x), y)
        ref.backward(x, crit.backward(ref.output, y))
        ref.updateParameters(0.1)
    for a, b in zip(net.parameters()[0], ref.parameters()[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_float_after_get_parameters_keeps_one_storage():
    net = seq(nn.Linear(3, 3), nn.Linear(3, 2))
    net.getParameters()
    net.float()
    p, _ = net.getParameters()
    assert p.dtype == np.float32 and p.size == 20


def test_clone_keeps_aliasing_inside_the_copy():
    net = seq(nn.Linear(3, 2), nn.Tanh())
    net.forward(np.random.randn(4, 3))
    c = net.clone()
    assert c.output is c.get(2).output
    assert c.get(1).weight is not net.get(1).weight
    net.getParameters()
    c = net.clone()
    assert same_storage(c.get(1).weight, c.get(1).bias)
    assert not same_storage(c.get(1).weight, net.get(1).weight)


def test_share_and_test_all_update():
    # two clones sharing the weight: each update moves both (nn.Jacobian.testAllUpdate (c))
    rng = np.random.default_rng(2)
    a = nn.Linear(3, 2)
    b = a.clone("weight", "bias")
    assert a.shared and b.shared
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    w0 = a.weight.copy()
    a.forward(x)
    a.zeroGradParameters()
    a.backward(x, g)
    gw = a.gradWeight.copy()
    b.forward(x)
    b.zeroGradParameters()
    b.backward(x, g)
    a.updateParameters(0.5)
    b.updateParameters(0.5)
    np.testing.assert_allclose(a.weight, w0 - 2 * 0.5 * gw, rtol=1e-12)
    assert a.weight is b.weight


def test_dtype_views_and_foreign_memory_are_handled():
    from nnlegacy import backend as B

    raw = np.zeros(8)
    as32 = raw.view(np.float32)  # another dtype over the same memory
    key, flat, offset, strides = B.storage_of(as32[2:6])
    assert flat.dtype == np.float32 and flat.size == 16 and offset == 2 and strides == (1,)
    m = nn.Linear(2, 2)
    m.weight = np.frombuffer(bytearray(32), np.float64).reshape(2, 2)  # memory owned by bytes
    m.weight[...] = [[1, 2], [3, 4]]
    p, _ = m.getParameters()
    assert p[:4].tolist() == [1, 2, 3, 4]
