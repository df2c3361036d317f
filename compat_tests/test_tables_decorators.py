"""Table modules and decorators: forward against plain references, finite-difference
gradients for nested table inputs and every parameter, types, print-outs, bad input."""

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import backend as B

H = 1e-6  # as nn.Jacobian


# --- nested tables of arrays -------------------------------------------------------------
def leaves(x):
    if isinstance(x, (list, tuple)):
        return [a for v in x for a in leaves(v)]
    return [x]


def to_np(x):
    if isinstance(x, (list, tuple)):
        return [to_np(v) for v in x]
    return B.to_numpy(x) if B.is_array(x) else x


def to_xp(x, xp, dtype=np.float64):
    if isinstance(x, (list, tuple)):
        return [to_xp(v, xp, dtype) for v in x]
    return xp.asarray(np.asarray(x, dtype=dtype))


def assert_nested_close(got, want, rtol=1e-12, atol=1e-13):
    got, want = to_np(got), to_np(want)
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            assert_nested_close(g, w, rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


def random_like(x, rng):
    if isinstance(x, (list, tuple)):
        return [random_like(v, rng) for v in x]
    return rng.standard_normal(np.shape(x))


def loss_of(out, g):
    return sum(float((to_np(o) * w).sum()) for o, w in zip(leaves(out), leaves(g)))


def loss_gradient(m, x, g, arr):
    """Central differences of L = <forward(x), G> in each element of ``arr`` (an input
    array or a parameter), flat."""
    flat = arr.reshape(-1)
    fd = np.zeros(arr.size)
    for i in range(arr.size):
        orig = float(flat[i])
        flat[i] = orig + H
        plus = loss_of(m.forward(x), g)
        flat[i] = orig - H
        minus = loss_of(m.forward(x), g)
        flat[i] = orig
        fd[i] = (plus - minus) / (2 * H)
    return fd


def check_gradients(m, x, rng, params=True):
    """Finite differences of L = <forward(x), G> against backward(x, G), for every
    element of every input array and of every parameter (float64)."""
    out = m.forward(x)
    g = random_like(to_np(out), rng)
    m.zeroGradParameters()
    gi = m.backward(x, g)
    analytic = [a.copy() for a in leaves(to_np(gi))]
    for arr, want in zip(leaves(x), analytic):
        fd = loss_gradient(m, x, g, arr)
        np.testing.assert_allclose(want.reshape(-1), fd, rtol=1e-5, atol=1e-6)
    ps = m.parameters() if params else None
    if not ps:
        return
    m.forward(x)
    m.zeroGradParameters()
    m.backward(x, g)
    grads = [np.array(B.to_numpy(gp)).reshape(-1) for gp in ps[1]]
    for p, want in zip(ps[0], grads):
        fd = loss_gradient(m, x, g, p)
        np.testing.assert_allclose(want, fd, rtol=1e-5, atol=1e-6)


# --- the cases ---------------------------------------------------------------------------
def _wn_weight(v, g, dim):
    w = g.reshape(-1, 1) * v / np.sqrt((v * v).sum(1, keepdims=True) + 1e-4)
    return w if dim == 1 else w.T


def _linear(x, w, b):
    y = x @ w.T
    return y + b if b is not None else y


def _mixture(gater, experts, dim=None):
    if isinstance(experts, list):
        if gater.ndim == 1:
            return sum(gater[i] * e for i, e in enumerate(experts))
        return sum(gater[:, i : i + 1] * e for i, e in enumerate(experts))
    out = np.zeros(experts.shape[:1] + experts.shape[2:])
    for b in range(experts.shape[0]):
        for i in range(experts.shape[1]):
            out[b] += gater[b, i] * experts[b, i]
    return out


# (id, constructor, input (numpy, from a Generator), reference(module, input), print-out)
CASES = [
    ("CAddTable", lambda: nn.CAddTable(), lambda r: [r(2, 3), r(2, 3)],
     lambda m, x: x[0] + x[1], "nn.CAddTable"),
    ("CSubTable", lambda: nn.CSubTable(), lambda r: [r(2, 3), r(2, 3)],
     lambda m, x: x[0] - x[1], "nn.CSubTable"),
    ("CMulTable", lambda: nn.CMulTable(), lambda r: [r(4), r(4), r(4)],
     lambda m, x: x[0] * x[1] * x[2], "nn.CMulTable"),
    ("CDivTable", lambda: nn.CDivTable(), lambda r: [r(2, 3), 1.5 + np.abs(r(2, 3))],
     lambda m, x: x[0] / x[1], "nn.CDivTable"),
    ("CMaxTable", lambda: nn.CMaxTable(), lambda r: [r(2, 3), r(2, 3), r(2, 3)],
     lambda m, x: np.maximum(np.maximum(x[0], x[1]), x[2]), "nn.CMaxTable"),
    ("CMinTable", lambda: nn.CMinTable(), lambda r: [r(5), r(5)],
     lambda m, x: np.minimum(x[0], x[1]), "nn.CMinTable"),
    ("CAddTensorTable", lambda: nn.CAddTensorTable(), lambda r: [r(3), [r(3), r(3)]],
     lambda m, x: [x[1][0] + x[0], x[1][1] + x[0]], "nn.CAddTensorTable"),
    ("JoinTable", lambda: nn.JoinTable(2), lambda r: [r(2, 3), r(2, 1)],
     lambda m, x: np.concatenate(x, 1), "nn.JoinTable"),
    ("SplitTable", lambda: nn.SplitTable(2), lambda r: [r(2, 3, 4)][0],
     lambda m, x: [x[:, i] for i in range(3)], "nn.SplitTable"),
    ("SplitTable_batch", lambda: nn.SplitTable(1, 2), lambda r: r(2, 3, 4),
     lambda m, x: [x[:, i] for i in range(3)], "nn.SplitTable"),
    ("SplitTable_neg", lambda: nn.SplitTable(-1), lambda r: r(3, 2),
     lambda m, x: [x[:, 0], x[:, 1]], "nn.SplitTable"),
    ("SelectTable", lambda: nn.SelectTable(2), lambda r: [r(2), [r(3), r(1)], r(4)],
     lambda m, x: x[1], "nn.SelectTable(2)"),
    ("SelectTable_neg", lambda: nn.SelectTable(-1), lambda r: [r(2), r(3), r(4)],
     lambda m, x: x[2], "nn.SelectTable(-1)"),
    ("NarrowTable", lambda: nn.NarrowTable(2, 2), lambda r: [r(2), r(3), r(4), r(1)],
     lambda m, x: [x[1], x[2]], "nn.NarrowTable"),
    ("FlattenTable", lambda: nn.FlattenTable(), lambda r: [r(2), [r(3), [r(1)]], r(2)],
     lambda m, x: [x[0], x[1][0], x[1][1][0], x[2]], "nn.FlattenTable"),
    ("ZipTable", lambda: nn.ZipTable(), lambda r: [[r(2), r(3)], [r(2), r(3)]],
     lambda m, x: [[x[0][0], x[1][0]], [x[0][1], x[1][1]]], "nn.ZipTable"),
    ("ZipTableOneToMany", lambda: nn.ZipTableOneToMany(), lambda r: [r(2), [r(3), r(4)]],
     lambda m, x: [[x[0], x[1][0]], [x[0], x[1][1]]], "nn.ZipTableOneToMany"),
    ("MixtureTable_table", lambda: nn.MixtureTable(), lambda r: [r(3, 2), [r(3, 4), r(3, 4)]],
     lambda m, x: _mixture(*x), "nn.MixtureTable"),
    ("MixtureTable_tensor", lambda: nn.MixtureTable(), lambda r: [r(3, 2), r(3, 2, 4)],
     lambda m, x: _mixture(*x), "nn.MixtureTable"),
    ("MixtureTable_single", lambda: nn.MixtureTable(), lambda r: [r(2), [r(4), r(4)]],
     lambda m, x: _mixture(*x), "nn.MixtureTable"),
    ("MapTable", lambda: nn.MapTable(nn.Linear(3, 2)), lambda r: [r(3), r(3), r(2, 3)],
     lambda m, x: [_linear(v, m.module.weight, m.module.bias) for v in x],
     "nn.MapTable {\n  nn.Linear(3 -> 2)\n}"),
    ("ConcatTable_nested", lambda: nn.ConcatTable().add(nn.SelectTable(1)).add(nn.Identity()),
     lambda r: [[r(2), r(3)], r(4)], lambda m, x: [x[0], x], None),
    ("ParallelTable_nested",
     lambda: nn.ParallelTable().add(nn.CAddTable()).add(nn.SelectTable(2)),
     lambda r: [[r(2), r(2)], [r(3), r(1)]], lambda m, x: [x[0][0] + x[0][1], x[1][1]], None),
    ("Decorator", lambda: nn.Decorator(nn.Tanh()), lambda r: r(2, 3),
     lambda m, x: np.tanh(x), "nn.Decorator @ nn.Tanh"),
    ("Bottle", lambda: nn.Bottle(nn.Linear(4, 3)), lambda r: r(2, 3, 4),
     lambda m, x: _linear(x, m.modules[0].weight, m.modules[0].bias),
     "nn.Bottle @ nn.Linear(4 -> 3)"),
    ("Bottle_4d", lambda: nn.Bottle(nn.Linear(4, 3)), lambda r: r(2, 2, 3, 4),
     lambda m, x: _linear(x, m.modules[0].weight, m.modules[0].bias),
     "nn.Bottle @ nn.Linear(4 -> 3)"),
    ("Bottle_nobottle", lambda: nn.Bottle(nn.Linear(4, 3)), lambda r: r(5, 4),
     lambda m, x: _linear(x, m.modules[0].weight, m.modules[0].bias),
     "nn.Bottle @ nn.Linear(4 -> 3)"),
    ("WeightNorm", lambda: nn.WeightNorm(nn.Linear(4, 3)), lambda r: r(2, 4),
     lambda m, x: _linear(x, _wn_weight(m.v, m.g, 1), m.bias),
     "nn.WeightNorm @ nn.Linear(4 -> 3)"),
    ("WeightNorm_dim2", lambda: nn.WeightNorm(nn.Linear(4, 3), 2), lambda r: r(4),
     lambda m, x: _linear(x, _wn_weight(m.v, m.g, 2), m.bias),
     "nn.WeightNorm @ nn.Linear(4 -> 3)"),
    ("WeightNorm_nobias", lambda: nn.WeightNorm(nn.Linear(4, 3, False)), lambda r: r(3, 4),
     lambda m, x: _linear(x, _wn_weight(m.v, m.g, 1), None),
     "nn.WeightNorm @ nn.Linear(4 -> 3) without bias"),
    ("GPU", lambda: nn.GPU(nn.Linear(3, 2), 1), lambda r: r(4, 3),
     lambda m, x: _linear(x, m.modules[0].weight, m.modules[0].bias),
     "nn.GPU(1) @ nn.Linear(3 -> 2)"),
    ("DontCast", lambda: nn.DontCast(nn.Tanh(), True), lambda r: r(3),
     lambda m, x: np.tanh(x), "nn.DontCast @ nn.Tanh"),
]  # fmt: skip
IDS = [c[0] for c in CASES]


def _make(case, seed=0):
    _, ctor, make_input, ref, text = case
    rng = np.random.default_rng(seed)
    m = ctor()
    ps = m.parameters()
    for p in ps[0] if ps else []:
        p[...] = rng.uniform(-0.5, 0.5, p.shape)
    return m, make_input(lambda *s: rng.standard_normal(s)), ref, text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_reference(case, backend):
    m, x, ref, _ = _make(case)
    want = ref(m, x)
    m = backend.module(m)
    out = m.forward(to_xp(x, backend.xp))
    assert_nested_close(out, want)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_by_finite_differences(case):
    m, x, _, _ = _make(case, seed=1)
    check_gradients(m, x, np.random.default_rng(2))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_print_out(case):
    m, _, _, text = _make(case)
    if text is not None:
        assert str(m) == text and repr(m) == text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float_double_round_trip(case):
    m, x, ref, _ = _make(case)
    want = ref(m, x)
    m.float()
    out = m.forward(to_xp(x, np, np.float32))
    assert all(o.dtype == np.float32 for o in leaves(out))
    assert_nested_close(out, want, rtol=1e-4, atol=1e-5)
    m.double()
    assert all(o.dtype == np.float64 for o in leaves(m.forward(to_xp(x, np))))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clear_state_keeps_results(case):
    m, x, ref, _ = _make(case)
    m.forward(x)
    m.clearState()
    assert_nested_close(m.forward(x), ref(m, x))


# --- module-specific behaviour -----------------------------------------------------------
def test_mixture_batch_equals_single_rows():
    rng = np.random.default_rng(3)
    gater, experts = rng.random((3, 2)), [rng.standard_normal((3, 4)) for _ in range(2)]
    batch = nn.MixtureTable().forward([gater, experts]).copy()
    for b in range(3):
        row = nn.MixtureTable().forward([gater[b], [e[b] for e in experts]])
        np.testing.assert_allclose(row, batch[b], rtol=1e-14)


def test_bottle_equals_module_on_each_slice():
    rng = np.random.default_rng(4)
    conv = nn.SpatialConvolution(2, 3, 3, 3)
    m = nn.Bottle(conv, 4)
    x = rng.standard_normal((2, 2, 2, 4, 4))
    out = m.forward(x)
    for i in range(2):
        np.testing.assert_allclose(out[i], conv.forward(x[i]), rtol=1e-13)
    mean = nn.Bottle(nn.Linear(4, 1), 2)
    assert mean.forward(x[0, 0]).shape == (2, 4, 1)


def test_maptable_clones_share_parameters_and_gradients():
    m = nn.MapTable(nn.Linear(3, 2))
    x = [np.ones(3), np.ones(3), np.ones((2, 3))]
    m.forward(x)
    assert len(m.modules) == 3
    for clone in m.modules[1:]:
        assert np.shares_memory(clone.weight, m.module.weight)
        assert np.shares_memory(clone.gradWeight, m.module.gradWeight)
    m.resize(1)
    assert len(m.modules) == 1


def test_cmaxtable_ties_go_to_the_first_input():
    m = nn.CMaxTable()
    x = [np.array([1.0, 2.0]), np.array([1.0, 3.0])]
    m.forward(x)
    gi = m.backward(x, np.array([5.0, 7.0]))
    assert m.maxIdx.tolist() == [1, 2]
    assert gi[0].tolist() == [5, 0] and gi[1].tolist() == [0, 7]


def test_narrow_table_negative_length_and_default():
    x = [np.ones(2), np.ones(3), np.ones(4)]
    assert nn.NarrowTable(2, -1).forward(x) == []
    assert len(nn.NarrowTable(2).forward(x)) == 1
    gi = nn.NarrowTable(2, -1).backward(x, [])
    assert [g.shape for g in gi] == [(2,), (3,), (4,)] and all((g == 0).all() for g in gi)


def test_criterion_table():
    crit = nn.CriterionTable(nn.MSECriterion())
    x, t = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert crit.forward([x, t]) == pytest.approx((1 + 0 + 9) / 3)
    gi = crit.backward([x, t], 1.0)
    assert len(gi) == 1
    np.testing.assert_allclose(gi[0], 2 * (x - t) / 3)


def test_weightnorm_parameters_and_norm():
    m = nn.WeightNorm(nn.Linear(4, 3))
    p, g = m.parameters()
    assert [a.shape for a in p] == [(3, 4), (3, 1), (3,)]
    assert p[0] is m.v and p[1] is m.g and p[2] is m.modules[0].bias
    np.testing.assert_allclose(m.g[:, 0], np.sqrt((m.v**2).sum(1)))  # resetInit
    m.forward(np.ones((1, 4)))
    np.testing.assert_allclose(m.modules[0].weight, _wn_weight(m.v, m.g, 1), rtol=1e-14)
    flat, gflat = m.getParameters()
    assert flat.size == 12 + 3 + 3
    flat[:] = 0.5  # views: the module sees it, bias through the wrapped module too
    assert (m.v == 0.5).all() and (m.modules[0].bias == 0.5).all()


def test_weightnorm_save_drops_weight_and_load_recomputes(tmp_path):
    m = nn.WeightNorm(nn.SpatialConvolution(2, 3, 3, 3))
    x = np.random.default_rng(5).standard_normal((2, 4, 4))
    y = m.forward(x).copy()
    nn.save(tmp_path / "wn.t7", m)
    back = nn.load(tmp_path / "wn.t7")
    assert "weight" not in back.__dict__ or back.__dict__["weight"] is back.modules[0].weight
    np.testing.assert_allclose(back.forward(x), y, rtol=1e-14)
    assert back.viewIn == [3, 18] and back.weightSize == [3, 2, 3, 3]


def test_dontcast_keeps_its_module_type():
    inner = nn.Linear(3, 2)
    m = nn.DontCast(inner, True)
    assert m.moduleType == "torch.DoubleTensor"
    net = nn.Sequential().add(m).float()
    assert inner.type() == "torch.DoubleTensor" and inner.weight.dtype == np.float64
    out = net.forward(np.ones((2, 3), np.float32))
    assert out.dtype == np.float32
    gi = net.backward(np.ones((2, 3), np.float32), np.ones((2, 2), np.float32))
    assert gi.dtype == np.float32
    with pytest.raises(ValueError, match="Cannot extrapolate moduleType"):
        nn.DontCast(nn.ConcatTable(), True)


def test_gpu_on_numpy_is_the_module():
    m = nn.GPU(nn.Linear(3, 2), 2)
    assert m.device == 2 and m.outdevice == 2
    with pytest.raises(TypeError, match="device must be a number"):
        nn.GPU(nn.Linear(3, 2), "1")


@pytest.mark.gpu
def test_gpu_runs_on_its_device(backend):
    if not backend.gpu:
        pytest.skip("CuPy only")
    cp = backend.xp
    m = nn.GPU(nn.Linear(3, 2), 1).cuda()
    assert m.modules[0].weight.device.id == 0
    x = cp.ones((4, 3), cp.float32)
    out = m.forward(x)
    assert out.device.id == 0
    gi = m.backward(x, cp.ones((4, 2), cp.float32))
    assert gi.device.id == x.device.id


# --- bad input ---------------------------------------------------------------------------
BAD = [
    (lambda: nn.CSubTable(), [np.ones(3)], TypeError, "at least 2"),
    (lambda: nn.CMulTable(), [np.ones(3), np.ones(4)], ValueError, r"input\[2\]"),
    (lambda: nn.SelectTable(5), [np.ones(3)], IndexError, "index does not exist"),
    (lambda: nn.MixtureTable(), [np.ones((2, 2)), [np.ones((2, 3))] * 3], ValueError,
     "Should be one gater output per expert"),
    (lambda: nn.Bottle(nn.Linear(4, 3), 2, 3), np.ones((2, 3, 4)), ValueError,
     "Wrong number of output dims on module. Expected: 3 but got 2"),
    (lambda: nn.CMaxTable(), np.ones(3), TypeError, "table"),
    (lambda: nn.SplitTable(3), np.ones((2, 2)), ValueError, "dimension 3 out of range"),
    (lambda: nn.CAddTable(), [np.ones(3), np.ones(3, np.float32)], TypeError, "FloatTensor"),
]  # fmt: skip


@pytest.mark.parametrize("ctor,x,err,msg", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_a_clear_error_and_changes_nothing(ctor, x, err, msg):
    m = ctor()
    before = m.output
    with pytest.raises(err, match=msg):
        m.forward(x)
    assert m.output is before
