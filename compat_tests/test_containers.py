"""Sequential and the Module protocol: print-outs, traversal, modes, types."""

import numpy as np
import pytest

import nnlegacy as nn

SEQ_TEXT = """nn.Sequential {
  [input -> (1) -> (2) -> (3) -> output]
  (1): nn.Linear(10 -> 25)
  (2): nn.Tanh
  (3): nn.Linear(25 -> 1)
}"""


def test_sequential_print():
    net = nn.Sequential().add(nn.Linear(10, 25)).add(nn.Tanh()).add(nn.Linear(25, 1))
    assert str(net) == SEQ_TEXT
    assert str(nn.Sequential()) == "nn.Sequential {\n  [input -> output]\n}"


def test_nested_sequential_print_indents():
    inner = nn.Sequential().add(nn.Linear(2, 3)).add(nn.ReLU())
    net = nn.Sequential().add(inner).add(nn.Linear(3, 1))
    assert str(net) == (
        "nn.Sequential {\n  [input -> (1) -> (2) -> output]\n"
        "  (1): nn.Sequential {\n    [input -> (1) -> (2) -> output]\n"
        "    (1): nn.Linear(2 -> 3)\n    (2): nn.ReLU\n  }\n"
        "  (2): nn.Linear(3 -> 1)\n}"
    )


def test_get_is_one_based_and_insert_remove():
    a, b, c = nn.Linear(2, 2), nn.Tanh(), nn.ReLU()
    net = nn.Sequential().add(a).add(b)
    assert net.get(1) is a and net.get(2) is b and net.get(3) is None and net.get(0) is None
    assert net.size() == 2 and len(net) == 2
    net.insert(c, 1)
    assert net.modules == [c, a, b]
    net.remove()
    assert net.modules == [c, a]
    net.remove(1)
    assert net.modules == [a]
    with pytest.raises(IndexError, match="index should be contiguous to existing modules"):
        net.insert(c, 3)
    with pytest.raises(IndexError, match="index out of range"):
        net.remove(2)


def test_sequential_forward_backward_chain():
    rng = np.random.default_rng(0)
    l1, l2 = nn.Linear(3, 4), nn.Linear(4, 2)
    net = nn.Sequential().add(l1).add(nn.Tanh()).add(l2)
    x = rng.standard_normal((5, 3))
    h = np.tanh(x @ l1.weight.T + l1.bias)
    y = h @ l2.weight.T + l2.bias
    np.testing.assert_allclose(net.forward(x), y, rtol=1e-12)
    assert net.output is l2.output
    g = rng.standard_normal((5, 2))
    gi = net.backward(x, g)
    gh = (g @ l2.weight) * (1 - h**2)
    np.testing.assert_allclose(gi, gh @ l1.weight, rtol=1e-12)
    np.testing.assert_allclose(l2.gradWeight, g.T @ h, rtol=1e-12)
    out, gin = net(x, g)
    assert out is net.output and gin is net.gradInput


def test_error_chain_names_the_module():
    inner = nn.Sequential().add(nn.Identity()).add(nn.Linear(3, 2))
    net = nn.Sequential().add(nn.Identity()).add(inner)
    with pytest.raises(ValueError) as e:
        net.forward(np.zeros((2, 5)))
    assert str(e.value).startswith(
        "In 2 module of nn.Sequential:\nIn 2 module of nn.Sequential:\nsize mismatch, m1: [2 x 5]"
    )


def test_list_and_find_modules_apply_replace():
    l1, l2, t = nn.Linear(2, 3), nn.Linear(3, 1), nn.Tanh()
    inner = nn.Sequential().add(l1).add(t)
    net = nn.Sequential().add(inner).add(l2)
    assert net.listModules() == [net, inner, l1, t, l2]
    nodes, containers = net.findModulesAndContainers("nn.Linear")
    assert nodes == [l1, l2] and containers == [inner, net]
    assert net.findModulesAndContainers("nn.Sequential")[1] == [net, net]
    seen = []
    net.apply(lambda m: seen.append(nn.torch_type(m)))
    assert seen == ["nn.Sequential", "nn.Sequential", "nn.Linear", "nn.Tanh", "nn.Linear"]
    net.replace(lambda m: nn.Sigmoid() if isinstance(m, nn.Tanh) else m)
    assert isinstance(inner.modules[1], nn.Sigmoid)


def test_training_evaluate_flags():
    net = nn.Sequential().add(nn.Linear(2, 2)).add(nn.ReLU())
    assert not hasattr(net.get(1), "train")  # Module.__init__ leaves it unset, as Lua
    net.evaluate()
    assert net.train is False and net.get(2).train is False
    net.training()
    assert net.get(1).train is True


def test_parameters_and_update():
    net = nn.Sequential().add(nn.Linear(2, 3)).add(nn.ReLU()).add(nn.Linear(3, 1).noBias())
    params, grads = net.parameters()
    assert [p.shape for p in params] == [(3, 2), (3,), (1, 3)]
    assert nn.ReLU().parameters() is None
    assert nn.Sequential().add(nn.ReLU()).parameters() == ([], [])
    for g in grads:
        g[...] = 1
    before = [p.copy() for p in params]
    net.updateParameters(0.1)
    for p, b in zip(net.parameters()[0], before):
        np.testing.assert_allclose(p, b - 0.1)
    net.zeroGradParameters()
    assert all((g == 0).all() for g in net.parameters()[1])


def test_acc_update_grad_parameters_equals_update():
    rng = np.random.default_rng(1)
    a = nn.Linear(3, 2)
    b = a.clone()
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    a.forward(x)
    a.zeroGradParameters()
    a.backward(x, g)
    a.updateParameters(0.3)
    b.forward(x)
    b.accUpdateGradParameters(x, g, 0.3)
    np.testing.assert_allclose(b.weight, a.weight, rtol=1e-12)
    np.testing.assert_allclose(b.bias, a.bias, rtol=1e-12)


def test_clear_state_returns_self_and_empties_buffers():
    net = nn.Sequential().add(nn.SpatialConvolution(1, 2, 3, 3)).add(nn.SpatialMaxPooling(2, 2))
    net.forward(np.random.randn(1, 1, 8, 8))
    assert net.clearState() is net
    conv, pool = net.modules
    assert conv.output.size == 0 and conv.finput.size == 0 and pool.indices.size == 0
    assert conv.weight.size == 18


def test_type_keeps_shared_arrays_shared():
    a = nn.Linear(3, 3)
    b = nn.Linear(3, 3)
    b.share(a, "weight", "bias")
    net = nn.Sequential().add(a).add(b)
    net.float()
    assert a.weight is b.weight and a.weight.dtype == np.float32
    # views of one storage stay views of one converted storage
    m = nn.Linear(4, 4)
    m.bias = m.weight[1]
    m.float()
    m.weight[1, 2] = 7
    assert m.bias[2] == 7


def test_type_cache_shared_across_networks():
    a = nn.Linear(2, 2)
    b = nn.Linear(2, 2)
    b.weight = a.weight
    cache = {}
    a.float(cache)
    b.float(cache)
    assert a.weight is b.weight


def test_default_tensor_type_builds_float_modules():
    assert nn.getdefaulttensortype() == "torch.DoubleTensor"
    nn.setdefaulttensortype("torch.FloatTensor")
    m = nn.Linear(2, 2)
    assert m.type() == "torch.FloatTensor" and m.weight.dtype == np.float32
    with pytest.raises(ValueError, match="unknown tensor type"):
        nn.setdefaulttensortype("torch.BogusTensor")


def test_manual_seed_repeats_init():
    nn.manualSeed(5)
    a = nn.Linear(3, 3).weight.copy()
    nn.manualSeed(5)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight, a)


def test_linear_init_is_uniform_in_stdv():
    m = nn.Linear(100, 50)
    s = 1 / np.sqrt(100)
    assert m.weight.min() >= -s and m.weight.max() < s and m.weight.std() > s / 2
    m.reset(0.1)
    s = 0.1 * np.sqrt(3)
    assert m.weight.min() >= -s and m.weight.max() < s
    c = nn.SpatialConvolution(3, 4, 5, 5)
    s = 1 / np.sqrt(75)
    assert np.abs(c.weight).max() <= s


def test_threshold_inplace_overwrites_input():
    x = np.array([-1.0, 0.5, 2.0])
    m = nn.ReLU(True)
    y = m.forward(x)
    assert y is x and x.tolist() == [0, 0.5, 2.0]
    g = np.ones(3)
    gi = m.backward(x, g)
    assert gi is g and g.tolist() == [0, 1, 1]
