"""Linear family (Bilinear, LinearWeightNorm, PartialLinear, LayerNormalization), index layers
(LookupTable, SparseLinear, IndexLinear) and distances, against plain references."""

import math

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import backend as B

H = 1e-6


def rnd(*shape):
    return np.random.randn(*shape)


# --- independent references (loops and formulas) --------------------------------------------
def ref_euclidean(m, x):
    x2 = np.atleast_2d(x)
    w = m.weight
    y = np.array([[math.sqrt(sum((r[i] - w[i, j]) ** 2 for i in range(w.shape[0])))
                   for j in range(w.shape[1])] for r in x2])  # fmt: skip
    return y if x.ndim == 2 else y[0]


def ref_weighted(m, x):
    x2 = np.atleast_2d(x)
    w, c = m.weight, m.diagCov
    y = np.array([[math.sqrt(sum(((r[i] - w[i, j]) * c[i, j]) ** 2 for i in range(w.shape[0])))
                   for j in range(w.shape[1])] for r in x2])  # fmt: skip
    return y if x.ndim == 2 else y[0]


def ref_cosine(m, x):
    x2 = np.atleast_2d(x)
    y = np.array([[w @ r / ((np.linalg.norm(w) + 1e-12) * (np.linalg.norm(r) + 1e-12))
                   for w in m.weight] for r in x2])  # fmt: skip
    return y if x.ndim == 2 else y[0]


def ref_pairwise(m, x):
    a, b = np.atleast_2d(x[0]), np.atleast_2d(x[1])
    return np.array([sum(abs(u - v) ** m.norm) ** (1 / m.norm) for u, v in zip(a, b)])


def ref_cosdist(m, x):
    a, b = np.atleast_2d(x[0]), np.atleast_2d(x[1])
    return np.array([u @ v / math.sqrt((u @ u + 1e-12) * (v @ v + 1e-12)) for u, v in zip(a, b)])


def ref_dot(m, x):
    return np.array([u @ v for u, v in zip(np.atleast_2d(x[0]), np.atleast_2d(x[1]))])


def ref_bilinear(m, x):
    a, b = x
    out, n1, n2 = m.weight.shape
    y = np.zeros((a.shape[0], out))
    for n in range(a.shape[0]):
        for k in range(out):
            y[n, k] = sum(
                a[n, i] * m.weight[k, i, j] * b[n, j] for i in range(n1) for j in range(n2)
            )
    return y + (m.bias if m.bias is not None else 0)


def ref_lwn(m, x):
    w = m.g * m.v / np.linalg.norm(m.v, axis=1, keepdims=True)
    return x @ w.T + (m.bias if m.bias is not None else 0)


def ref_lookup(m, idx):
    return np.stack([m.weight[i - 1] for i in idx.reshape(-1)]).reshape(idx.shape + (-1,))


def ref_sparse(m, x):
    parts = x if isinstance(x, list) else list(x) if x.ndim == 3 else [x]
    dense = np.zeros((len(parts), m.weight.shape[1]))
    for n, p in enumerate(parts):
        for i, v in p:
            dense[n, int(i) - 1] += v
    y = dense @ m.weight.T + m.bias
    return y if isinstance(x, list) or x.ndim == 3 else y[0]


def ref_index(m, x):
    keys, vals = (x[0], x[1]) if isinstance(x[0], list) else ([x[0]], [x[1]])
    y = np.zeros((len(keys), m.outputSize)) + m.bias
    for n, (k, v) in enumerate(zip(keys, vals)):
        for key, val in zip(k, v):
            y[n] += val * m.weight[key - 1]
    return y if isinstance(x[0], list) else y[0]


# --- cases: (id, factory, input maker, reference, tensor-input Jacobian?) -------------------
CASES = [
    ("Euclidean", lambda: nn.Euclidean(4, 3), lambda: rnd(4), ref_euclidean),
    ("Euclidean-batch", lambda: nn.Euclidean(4, 3), lambda: rnd(2, 4), ref_euclidean),
    ("WeightedEuclidean", lambda: _rand_diag(nn.WeightedEuclidean(4, 3)), lambda: rnd(4),
     ref_weighted),
    ("WeightedEuclidean-batch", lambda: _rand_diag(nn.WeightedEuclidean(4, 3)),
     lambda: rnd(3, 4), ref_weighted),
    ("Cosine", lambda: nn.Cosine(4, 3), lambda: rnd(4), ref_cosine),
    ("Cosine-batch", lambda: nn.Cosine(4, 3), lambda: rnd(2, 4), ref_cosine),
    ("PairwiseDistance2", lambda: nn.PairwiseDistance(2), lambda: [rnd(4), rnd(4)], ref_pairwise),
    ("PairwiseDistance1-batch", lambda: nn.PairwiseDistance(1), lambda: [rnd(3, 4), rnd(3, 4)],
     ref_pairwise),
    ("PairwiseDistance3-batch", lambda: nn.PairwiseDistance(3), lambda: [rnd(3, 4), rnd(3, 4)],
     ref_pairwise),
    ("CosineDistance", lambda: nn.CosineDistance(), lambda: [rnd(4), rnd(4)], ref_cosdist),
    ("CosineDistance-batch", lambda: nn.CosineDistance(), lambda: [rnd(3, 4), rnd(3, 4)],
     ref_cosdist),
    ("DotProduct", lambda: nn.DotProduct(), lambda: [rnd(4), rnd(4)], ref_dot),
    ("DotProduct-batch", lambda: nn.DotProduct(), lambda: [rnd(3, 4), rnd(3, 4)], ref_dot),
    ("Bilinear", lambda: nn.Bilinear(3, 2, 2), lambda: [rnd(2, 3), rnd(2, 2)], ref_bilinear),
    ("Bilinear-nobias", lambda: nn.Bilinear(3, 2, 2, False), lambda: [rnd(2, 3), rnd(2, 2)],
     ref_bilinear),
    ("LinearWeightNorm", lambda: nn.LinearWeightNorm(4, 3), lambda: rnd(4), ref_lwn),
    ("LinearWeightNorm-batch", lambda: nn.LinearWeightNorm(4, 3, False), lambda: rnd(2, 4),
     ref_lwn),
]  # fmt: skip
PARAMS = {
    "WeightedEuclidean": ("diagCov", "gradDiagCov"),
    "LinearWeightNorm": ("v", "gradV", "g", "gradG"),
}


def _rand_diag(m):
    B.uniform_(m.diagCov, 0.5, 1.5)
    return m


def _flat_inputs(x):
    return x if isinstance(x, list) else [x]


def _param_pairs(m):
    names = PARAMS.get(type(m).__name__, ("weight", "gradWeight"))
    pairs = [(names[i], names[i + 1]) for i in range(0, len(names), 2)]
    if type(m).__name__ not in PARAMS or type(m).__name__ == "LinearWeightNorm":
        pairs += [("bias", "gradBias")] if getattr(m, "bias", None) is not None else []
    if type(m).__name__ == "WeightedEuclidean":
        pairs.insert(0, ("weight", "gradWeight"))
    return [(p, g) for p, g in pairs if getattr(m, p, None) is not None]


def _unit_grads(out):
    for k in range(out.size):
        g = np.zeros(out.shape)
        g.reshape(-1)[k] = 1
        yield k, g


@pytest.mark.parametrize("cid,make,inp,ref", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_reference(cid, make, inp, ref):
    m, x = make(), inp()
    np.testing.assert_allclose(m.forward(x), ref(m, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cid,make,inp,ref", CASES, ids=[c[0] for c in CASES])
def test_jacobians(cid, make, inp, ref):
    """Finite differences in float64 against backward, for every input and parameter."""
    m, x = make(), inp()
    if cid.startswith("PairwiseDistance1"):
        x[1] = x[0] + np.sign(rnd(*x[0].shape)) * (0.1 + abs(rnd(*x[0].shape)))  # no |d| ~ 0
    out = m.forward(x).copy()
    arrays = _flat_inputs(x)
    for a_i, a in enumerate(arrays):
        fd = np.zeros((a.size, out.size))
        for i in range(a.size):
            orig = a.reshape(-1)[i]
            a.reshape(-1)[i] = orig + H
            plus = m.forward(x).reshape(-1).copy()
            a.reshape(-1)[i] = orig - H
            fd[i] = (plus - m.forward(x).reshape(-1)) / (2 * H)
            a.reshape(-1)[i] = orig
        bp = np.zeros_like(fd)
        for k, g in _unit_grads(out):
            m.forward(x)
            gi = m.updateGradInput(x, g)
            bp[:, k] = (gi[a_i] if isinstance(gi, list) else gi).reshape(-1)
        np.testing.assert_allclose(bp, fd, atol=1e-5, err_msg=f"input {a_i + 1}")
    for p, gname in _param_pairs(m):
        param = getattr(m, p)
        fd = np.zeros((param.size, out.size))
        for i in range(param.size):
            orig = param.reshape(-1)[i]
            param.reshape(-1)[i] = orig + H
            plus = m.forward(x).reshape(-1).copy()
            param.reshape(-1)[i] = orig - H
            fd[i] = (plus - m.forward(x).reshape(-1)) / (2 * H)
            param.reshape(-1)[i] = orig
        bp = np.zeros_like(fd)
        for k, g in _unit_grads(out):
            m.zeroGradParameters()
            m.forward(x)
            m.backward(x, g)
            bp[:, k] = getattr(m, gname).reshape(-1)
        np.testing.assert_allclose(bp, fd, atol=1e-5, err_msg=p)


@pytest.mark.parametrize("cid,make,inp,ref", CASES, ids=[c[0] for c in CASES])
def test_type_round_trip_and_clear_state(cid, make, inp, ref):
    m, x = make(), inp()
    y = m.forward(x).copy()
    m.float()
    xf = [a.astype(np.float32) for a in x] if isinstance(x, list) else x.astype(np.float32)
    yf = m.forward(xf)
    assert yf.dtype == np.float32
    np.testing.assert_allclose(yf, y, rtol=1e-4, atol=1e-5)
    m.double().clearState()
    np.testing.assert_allclose(m.forward(x), y, rtol=1e-5)  # weights went through float32


PRINTS = [
    (lambda: nn.Bilinear(3, 4, 2), "nn.Bilinear(3x4 -> 2) "),
    (lambda: nn.Bilinear(3, 4, 2, False), "nn.Bilinear(3x4 -> 2)  without bias"),
    (lambda: nn.LinearWeightNorm(4, 3), "nn.LinearWeightNorm(4 -> 3)"),
    (lambda: nn.LinearWeightNorm(4, 3, False), "nn.LinearWeightNorm(4 -> 3) without bias"),
    (lambda: nn.Euclidean(4, 3), "nn.Euclidean"),
    (lambda: nn.PairwiseDistance(2), "nn.PairwiseDistance"),
    (lambda: nn.LookupTable(10, 3), "nn.LookupTable"),
    (lambda: nn.SparseLinear(6, 3), "nn.SparseLinear"),
    (lambda: nn.IndexLinear(6, 3), "nn.IndexLinear"),
]


@pytest.mark.parametrize("make,text", PRINTS)
def test_print(make, text):
    assert str(make()) == text


# --- index layers -----------------------------------------------------------------------------
def test_lookup_forward_repeats_padding_and_freq():
    m = nn.LookupTable(10, 3, 2)
    idx = np.array([[1, 5, 2], [5, 5, 10]], np.int64)
    np.testing.assert_array_equal(m.forward(idx), ref_lookup(m, idx))
    go = rnd(2, 3, 3)
    m.zeroGradParameters()
    gi = m.backward(idx, go)
    assert gi.dtype == np.int64 and gi.shape == idx.shape and not gi.any()
    want = np.zeros((10, 3))
    for (n, j), k in np.ndenumerate(idx):
        if k != 2:
            want[k - 1] += go[n, j]
    np.testing.assert_allclose(m.gradWeight, want, rtol=1e-12)
    m.scaleGradByFreq().zeroGradParameters()
    m.backward(idx, go, 0.5)
    np.testing.assert_allclose(m.gradWeight[4], 0.5 * go[[0, 1, 1], [1, 0, 1]].sum(0) / 3)


def test_lookup_maxnorm_renormalises_rows():
    m = nn.LookupTable(5, 4, 0, 1.0)
    m.weight[...] = 3 * rnd(5, 4)
    before = m.weight.copy()
    m.forward(np.array([2, 2, 4]))
    for r in range(5):
        n = np.linalg.norm(before[r])
        want = before[r] * (1.0 / (n + 1e-7)) if r in (1, 3) and n > 1 else before[r]
        np.testing.assert_allclose(m.weight[r], want, rtol=1e-12)


def test_sparse_linear_formats_and_input_gradient():
    m = nn.SparseLinear(6, 3, True)
    single = np.array([[1, 0.5], [4, -1.2], [6, 2.0]])
    batch = [np.array([[2, 1.5], [3, -0.5]]), single]
    legacy = np.array([[[1, 0.5], [4, -1.2]], [[2, 1.0], [6, 2.0]]])
    for x in (single, batch, legacy):
        np.testing.assert_allclose(m.forward(x), ref_sparse(m, x), rtol=1e-12)
    go = rnd(2, 3)
    gi = m.backward(batch, go)
    for n in range(2):
        np.testing.assert_array_equal(gi[n][:, 0], np.arange(1, 7))
        np.testing.assert_allclose(gi[n][:, 1], go[n] @ m.weight)
    # dense gradient of the values: finite differences on a value of the pair list
    m.zeroGradParameters()
    b0 = batch[0].copy()
    b0[1, 1] += H
    plus = m.forward([b0, single]).copy()
    b0[1, 1] -= 2 * H
    fd = (plus - m.forward([b0, single])) / (2 * H)
    np.testing.assert_allclose(fd[0], m.weight[:, 2], rtol=1e-6)  # d out / d value of index 3
    np.testing.assert_allclose(fd[0] @ go[0], gi[0][2, 1], rtol=1e-6)


def test_sparse_linear_weight_gradient_and_sparse_update():
    m = nn.SparseLinear(6, 3)
    x = [np.array([[2, 1.5], [3, -0.5]]), np.array([[1, 0.3], [5, 0.7]])]
    m.forward(x)
    m.zeroGradParameters()
    go = rnd(2, 3)
    m.backward(x, go)
    dense = np.zeros((2, 6))
    for n, p in enumerate(x):
        for i, v in p:
            dense[n, int(i) - 1] += v
    np.testing.assert_allclose(m.gradWeight, go.T @ dense, rtol=1e-12)
    np.testing.assert_allclose(m.gradBias, go.sum(0), rtol=1e-12)
    w = m.weight.copy()
    m.updateParameters(0.1)
    np.testing.assert_allclose(m.weight, w - 0.1 * go.T @ dense, rtol=1e-12)
    np.testing.assert_array_equal(m.weight[:, 3], w[:, 3])  # column 4 untouched
    m.zeroGradParameters()
    assert not m.gradWeight.any()


def _index_grads(m, x, go):
    """Dense gradients of IndexLinear through updateParameters(1): w_before - w_after."""
    w, b = m.weight.copy(), m.bias.copy()
    m.zeroGradParameters()
    m.forward(x)
    m.backward(x, go)
    m.updateParameters(1)
    gw, gb = w - m.weight, b - m.bias
    m.weight[...], m.bias[...] = w, b
    return gw, gb


@pytest.mark.parametrize("flat", [False, True])
def test_index_linear_forward_and_jacobian(flat):
    m = nn.IndexLinear(6, 3, True).reset()
    keys, vals = [np.array([1, 3]), np.array([2, 5, 3])], [rnd(2), rnd(3)]
    x = [keys, vals]
    xin = [np.concatenate(keys), np.concatenate(vals), np.array([2, 3])] if flat else x
    np.testing.assert_allclose(m.forward(xin), ref_index(m, x), rtol=1e-12)
    go = rnd(2, 3)
    gi = m.backward(xin, go)
    gvals = gi[1] if flat else np.stack(gi[1])
    np.testing.assert_allclose(gvals, go @ m.weight.T, rtol=1e-12)
    gw, gb = _index_grads(m, xin, go)
    for p, g in ((m.weight, gw), (m.bias, gb)):
        fd = np.zeros(p.shape)
        for i in range(p.size):
            orig = p.reshape(-1)[i]
            p.reshape(-1)[i] = orig + H
            plus = (m.forward(xin) * go).sum()
            p.reshape(-1)[i] = orig - H
            fd.reshape(-1)[i] = (plus - (m.forward(xin) * go).sum()) / (2 * H)
            p.reshape(-1)[i] = orig
        np.testing.assert_allclose(g, fd, atol=1e-6)
    assert m.parameters()[1][0] is m.running


def test_index_linear_keys_offset_and_normalize():
    m = nn.IndexLinear(6, 3, True, 1).reset()  # 0-based keys
    y = m.forward([np.array([0, 5]), np.array([1.0, 2.0])])
    np.testing.assert_allclose(y, m.bias + m.weight[0] + 2 * m.weight[5], rtol=1e-12)
    n = nn.IndexLinear(6, 2, False, None, None, None, True).reset()
    assert n.weight.shape == (6, 6)
    n.training()
    n.forward([[np.array([2, 2])], [np.array([0.5, -2.0])]])
    assert n.weight[1, 0] == 2.0 and n.weight[1, 1] == 0.5 and n.weight[1, 2] == 1
    # Lua clamps the first (|0.5| < running max 0.5 then) and scales: 0.5 * 1/0.5, -2 * 1/2
    np.testing.assert_allclose(n.normalizedValues, [1.0, -1.0])


# --- errors, state unchanged ------------------------------------------------------------------
def _state(m):
    out = {}
    for k, v in m.__dict__.items():
        if B.is_array(v):
            out[k] = v.copy()
        elif isinstance(v, list):
            out[k] = [a.copy() if B.is_array(a) else a for a in v]
    return out


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, list):
            assert len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y)), k
        else:
            assert np.array_equal(x, y), k


ERRORS = [
    (lambda: nn.Euclidean(4, 3), lambda: rnd(2, 2, 4), ValueError, "1D or 2D input expected"),
    (lambda: nn.WeightedEuclidean(4, 3), lambda: rnd(5), ValueError, "expected input of 4"),
    (lambda: nn.Cosine(4, 3), lambda: rnd(2, 5), ValueError, "expected input of 4 features"),
    (lambda: nn.DotProduct(), lambda: [rnd(3), rnd(4)], ValueError, "differ"),
    (lambda: nn.PairwiseDistance(2), lambda: rnd(3), TypeError, "list of two arrays"),
    (lambda: nn.CosineDistance(), lambda: [rnd(2, 2, 2)] * 2, ValueError, "vector or matrix"),
    (lambda: nn.Bilinear(3, 4, 2), lambda: [rnd(3), rnd(4)], ValueError,
     "input Tensors should be two-dimensional"),
    (lambda: nn.Bilinear(3, 4, 2), lambda: [rnd(2, 3), rnd(2, 5)], ValueError,
     "dimensionality of second input is erroneous"),
    (lambda: nn.LinearWeightNorm(4, 3), lambda: rnd(2, 5), ValueError, "size mismatch"),
    (lambda: nn.LookupTable(10, 3), lambda: np.array([1, 11]), IndexError, "index out of range"),
    (lambda: nn.LookupTable(10, 3), lambda: np.array([0, 1]), IndexError, "1-based"),
    (lambda: nn.LookupTable(10, 3), lambda: np.array([1.5]), TypeError, "integer indices"),
    (lambda: nn.SparseLinear(6, 3), lambda: np.array([[7, 1.0]]), IndexError, "1..6"),
    (lambda: nn.SparseLinear(6, 3), lambda: np.array([[1, 1.0, 2]]), ValueError, "nnz x 2"),
    (lambda: nn.IndexLinear(6, 3), lambda: [np.array([1, 7]), rnd(2)], IndexError, "1..6"),
    (lambda: nn.IndexLinear(6, 3), lambda: [np.array([1, 2]), rnd(3)], ValueError, "same size"),
]  # fmt: skip


@pytest.mark.parametrize("make,inp,exc,msg", ERRORS)
def test_bad_input(make, inp, exc, msg):
    m = make()
    before = _state(m)
    with pytest.raises(exc, match=msg):
        m.forward(inp())
    _same(before, _state(m))


def test_index_linear_non_batch_backward_needs_grad_input():
    m = nn.IndexLinear(6, 3)
    x = [np.array([1, 4, 6]), rnd(3)]
    m.forward(x)
    before = _state(m)
    with pytest.raises(RuntimeError, match="doGradInput"):
        m.backward(x, rnd(3))
    _same(before, _state(m))


def test_constructors_lua_conventions():
    assert nn.Bilinear(3, 4, 2, None).bias is not None  # nil is the default
    with pytest.raises(ValueError, match="positive"):
        nn.Bilinear(0, 4, 2)
    with pytest.raises(ValueError, match="whole number"):
        nn.Euclidean(4.5, 3)
    lin = nn.Linear(4, 3)
    lwn = nn.LinearWeightNorm.fromLinear(lin)
    np.testing.assert_allclose(lwn.toLinear().weight, lin.weight, rtol=1e-12)
    assert nn.WeightedEuclidean(3, 2).diagCov.tolist() == [[1, 1]] * 3


@pytest.mark.skipif(not all(hasattr(nn, c) for c in ("MM",)), reason="needs nn.MM (issue 12)")
def test_partial_linear_partition():
    m = nn.PartialLinear(4, 5)
    m.bias[...] = rnd(1, 5)
    x = rnd(3, 4)
    m.setPartition(np.array([2, 4]))
    w = m.network.modules[0].modules[1].weight
    np.testing.assert_allclose(m.forward(x), x @ w[[1, 3]].T + m.bias[:, [1, 3]], rtol=1e-12)
    m.zeroGradParameters()
    go = rnd(3, 2)
    np.testing.assert_allclose(m.backward(x, go), go @ w[[1, 3]], rtol=1e-12)
    np.testing.assert_allclose(m.gradBias[0, [1, 3]], go.sum(0))
    assert str(m) == "nn.PartialLinear(4 -> 5)"


LN_PARTS = ("Mean", "Replicate", "CSubTable", "Normalize", "MulConstant", "CMul", "Add")


@pytest.mark.skipif(not all(hasattr(nn, c) for c in LN_PARTS), reason="needs issue 12's parts")
def test_layer_normalization_structure():
    m = nn.LayerNormalization(5)
    assert len(m.modules) == 6 and type(m.modules[4]).__name__ == "CMul"
    assert str(m).startswith("nn.Sequential {\n  [input -> (1) -> (2) -> (3) -> (4) -> (5) -> (6)")
    assert len(nn.LayerNormalization(5, 0.5, 1e-5, False).modules) == 4


# --- CuPy against NumPy -----------------------------------------------------------------------
@pytest.mark.parametrize("cid,make,inp,ref", CASES, ids=[c[0] for c in CASES])
def test_backend_matches_numpy(backend, cid, make, inp, ref):
    m, x = make(), inp()
    y = m.forward(x).copy()
    go = rnd(*y.shape)
    gi = m.backward(x, go)
    gi = [a.copy() for a in gi] if isinstance(gi, list) else gi.copy()
    g = backend.module(m.clone())
    xb = [backend.asarray(a) for a in x] if isinstance(x, list) else backend.asarray(x)
    g.zeroGradParameters()
    np.testing.assert_allclose(backend.tonp(g.forward(xb)), y, rtol=1e-10)
    gib = g.backward(xb, backend.asarray(go))
    for a, b in zip(_flat_inputs(gib), _flat_inputs(gi)):
        np.testing.assert_allclose(backend.tonp(a), b, rtol=1e-10, atol=1e-12)


def test_backend_index_layers(backend):
    xp = backend.xp
    lt = backend.module(nn.LookupTable(10, 3, 0, 1.0).scaleGradByFreq())
    idx = xp.asarray(np.array([[1, 5, 5], [2, 5, 9]], np.int64))
    lt.forward(idx)
    lt.backward(idx, backend.asarray(rnd(2, 3, 3)))
    sl = backend.module(nn.SparseLinear(6, 3, True))
    x = [backend.asarray([[2, 1.5], [3, -0.5]]), backend.asarray([[1, 0.3], [6, 1.0]])]
    ref = ref_sparse(
        type("M", (), {"weight": backend.tonp(sl.weight), "bias": backend.tonp(sl.bias)}),
        [backend.tonp(a) for a in x],
    )
    np.testing.assert_allclose(backend.tonp(sl.forward(x)), ref, rtol=1e-12)
    sl.backward(x, backend.asarray(rnd(2, 3)))
    il = backend.module(nn.IndexLinear(6, 3, True).reset())
    xi = [[xp.asarray(np.array([1, 3])), xp.asarray(np.array([2, 2, 6]))],
          [backend.asarray(rnd(2)), backend.asarray(rnd(3))]]  # fmt: skip
    il.forward(xi)
    il.backward(xi, backend.asarray(rnd(2, 3)))
    il.updateParameters(0.1)
