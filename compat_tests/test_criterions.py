"""Every criterion against an independent formula (loops where the formula is a loop),
float64 finite-difference gradients, type round trips, Lua's print-out, the fields a
saved criterion carries for Lua, and clear errors for bad input (state unchanged).

The golden files written by real Lua Torch7 are replayed by ``test_golden.py``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import reference as R

import nnlegacy as nn
from nnlegacy import backend as B
from nnlegacy import t7


# --- independent references ---------------------------------------------------------
def _lsm(x):
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _simplex_ok(s, n):
    """A regular simplex: unit rows, equal pairwise dot -1/(n-1), last column zero."""
    g = s @ s.T
    off = g[~np.eye(n, dtype=bool)]
    return np.allclose(np.diag(g), 1) and np.allclose(off, -1 / (n - 1)) and not s[:, -1].any()


def multimargin_ref(x, t, p=1, w=None, margin=1.0):
    x = np.atleast_2d(x)
    t = np.atleast_1d(t)
    total = 0.0
    for i in range(x.shape[0]):
        y = int(t[i]) - 1
        for d in range(x.shape[1]):
            z = margin - x[i, y] + x[i, d]
            if d != y and z > 0:
                total += z**p * (1 if w is None else w[y])
    return total / x.shape[1] / x.shape[0]


def multilabel_ref(x, t):
    x, t = np.atleast_2d(x), np.atleast_2d(t)
    total = 0.0
    for i in range(x.shape[0]):
        targets = []
        for v in t[i]:
            if v == 0:
                break
            targets.append(int(v) - 1)
        for j in targets:
            for d in range(x.shape[1]):
                if d not in targets:
                    total += max(0.0, 1 - x[i, j] + x[i, d])
    return total / x.shape[1] / x.shape[0]


def cosine_ref(x1, x2, y, margin, average=True):
    x1, x2 = np.atleast_2d(x1), np.atleast_2d(x2)
    total = 0.0
    for a, b, lab in zip(x1, x2, np.atleast_1d(y)):
        cos = a @ b / np.sqrt((a @ a) * (b @ b))
        total += 1 - cos if lab == 1 else max(0.0, cos - margin)
    return total / len(x1) if average else total


def spatial_nll_ref(x, t, w=None, average=True):
    num = den = 0.0
    for n in range(x.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                c = int(t[n, i, j]) - 1
                wc = 1.0 if w is None else w[c]
                num -= wc * x[n, c, i, j]
                den += wc
    return num / den if average else num


# One case: name, constructor, input(rng), target(rng), reference loss(x, t).
W5 = np.array([1.0, 2, 0.5, 1, 1])
W4 = np.array([1.0, 2, 0.5, 0.25])
PM = np.array([1.0, -1, -1, 1, -1])
CASES = [
    ("ClassNLL", lambda: nn.ClassNLLCriterion(), lambda r: _lsm(r.standard_normal((4, 5))),
     lambda r: np.array([1, 5, 3, 3]), lambda x, t: -x[np.arange(4), t - 1].mean()),
    ("ClassNLL_1d_weights", lambda: nn.ClassNLLCriterion(W5, False),
     lambda r: _lsm(r.standard_normal(5)), lambda r: 2, lambda x, t: -2 * x[1]),
    ("SpatialClassNLL", lambda: nn.SpatialClassNLLCriterion(np.array([1.0, 0.5, 2])),
     lambda r: _lsm(r.standard_normal((2, 2, 2, 3)).transpose(0, 3, 1, 2).copy()),
     lambda r: r.integers(1, 4, (2, 2, 2)), lambda x, t: spatial_nll_ref(x, t, [1, 0.5, 2])),
    ("CrossEntropy", lambda: nn.CrossEntropyCriterion(W5), lambda r: r.standard_normal((3, 5)),
     lambda r: np.array([2, 4, 5]),
     lambda x, t: -(W5[t - 1] * _lsm(x)[np.arange(3), t - 1]).sum() / W5[t - 1].sum()),
    ("MSE", lambda: nn.MSECriterion(), lambda r: r.standard_normal((3, 4)),
     lambda r: r.standard_normal((3, 4)), lambda x, t: ((x - t) ** 2).mean()),
    ("BCE", lambda: nn.BCECriterion(W4), lambda r: r.uniform(0.05, 0.95, (3, 4)),
     lambda r: (r.uniform(size=(3, 4)) > 0.5).astype(float),
     lambda x, t: -(W4 * (t * np.log(x) + (1 - t) * np.log(1 - x))).mean()),
    ("Abs", lambda: nn.AbsCriterion(), lambda r: r.standard_normal((3, 4)),
     lambda r: r.standard_normal((3, 4)), lambda x, t: np.abs(x - t).mean()),
    ("SmoothL1", lambda: nn.SmoothL1Criterion(False), lambda r: 2 * r.standard_normal(6),
     lambda r: r.standard_normal(6),
     lambda x, t: sum(0.5 * d * d if abs(d) < 1 else abs(d) - 0.5 for d in x - t)),
    ("Margin", lambda: nn.MarginCriterion(0.5), lambda r: r.standard_normal(5),
     lambda r: PM, lambda x, t: np.maximum(0.5 - x * t, 0).mean()),
    ("SoftMargin", lambda: nn.SoftMarginCriterion(), lambda r: r.standard_normal(5),
     lambda r: PM, lambda x, t: np.log(1 + np.exp(-x * t)).mean()),
    ("MultiMargin", lambda: nn.MultiMarginCriterion(), lambda r: r.standard_normal((3, 5)),
     lambda r: np.array([1, 5, 3]), lambda x, t: multimargin_ref(x, t)),
    ("MultiMargin_p2_w", lambda: nn.MultiMarginCriterion(2, W5, 0.5),
     lambda r: r.standard_normal((3, 5)), lambda r: np.array([2, 2, 4]),
     lambda x, t: multimargin_ref(x, t, 2, W5, 0.5)),
    ("MultiMargin_1d", lambda: nn.MultiMarginCriterion(), lambda r: r.standard_normal(5),
     lambda r: 3, lambda x, t: multimargin_ref(x, [t])),
    ("MultiLabelMargin", lambda: nn.MultiLabelMarginCriterion(),
     lambda r: r.standard_normal((2, 4)), lambda r: np.array([[3, 1, 0, 2], [4, 4, 2, 0]]),
     lambda x, t: multilabel_ref(x, t)),
    ("MultiLabelSoftMargin", lambda: nn.MultiLabelSoftMarginCriterion(W4),
     lambda r: r.standard_normal((3, 4)), lambda r: (r.uniform(size=(3, 4)) > 0.5) * 1.0,
     lambda x, t: -(W4 * (t * np.log(_sigmoid(x)) + (1 - t) * np.log(1 - _sigmoid(x)))).mean()),
    ("HingeEmbedding", lambda: nn.HingeEmbeddingCriterion(1.5), lambda r: r.uniform(0, 2, 5),
     lambda r: PM, lambda x, t: np.where(t == 1, x, np.maximum(1.5 - x, 0)).mean()),
    ("L1HingeEmbedding", lambda: nn.L1HingeEmbeddingCriterion(5),
     lambda r: [r.standard_normal(4), r.standard_normal(4)], lambda r: -1,
     lambda x, t: max(0, 5 - np.abs(x[0] - x[1]).sum())),
    ("CosineEmbedding", lambda: nn.CosineEmbeddingCriterion(0.2),
     lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))],
     lambda r: np.array([1.0, -1, -1]), lambda x, t: cosine_ref(x[0], x[1], t, 0.2)),
    ("CosineEmbedding_1d", lambda: nn.CosineEmbeddingCriterion(),
     lambda r: [r.standard_normal(4), r.standard_normal(4)], lambda r: np.array([1.0]),
     lambda x, t: cosine_ref(x[0], x[1], t, 0)),
    ("MarginRanking", lambda: nn.MarginRankingCriterion(0.5),
     lambda r: [r.standard_normal(4), r.standard_normal(4)], lambda r: PM[:4],
     lambda x, t: np.maximum(-t * (x[0] - x[1]) + 0.5, 0).mean()),
    ("MarginRanking_1", lambda: nn.MarginRankingCriterion(),
     lambda r: [r.standard_normal(1), r.standard_normal(1)], lambda r: 1,
     lambda x, t: max(0, -(x[0][0] - x[1][0]) + 1)),
    ("DistKLDiv", lambda: nn.DistKLDivCriterion(), lambda r: _lsm(r.standard_normal((3, 4))),
     lambda r: np.exp(_lsm(r.standard_normal((3, 4)))),
     lambda x, t: (t * (np.log(t) - x)).mean()),
    ("DistanceRatio", lambda: nn.DistanceRatioCriterion(),
     lambda r: [r.uniform(0, 2, 4), r.uniform(0, 2, 4)], lambda r: None,
     lambda x, t: np.log(1 + np.exp(x[0] - x[1])).mean()),
    ("ClassSimplex", lambda: nn.ClassSimplexCriterion(4), lambda r: r.standard_normal((3, 4)),
     lambda r: np.array([1.0, 4, 2]),
     lambda x, t: ((x - nn.ClassSimplexCriterion(4).simplex[t.astype(int) - 1]) ** 2).mean()),
    ("SpatialAutoCropMSE", lambda: nn.SpatialAutoCropMSECriterion(),
     lambda r: r.standard_normal((2, 2, 2, 3)), lambda r: r.standard_normal((2, 2, 5, 4)),
     lambda x, t: ((x - t[:, :, 1:3, 0:3]) ** 2).mean()),
    ("SpatialAutoCropMSE_same", lambda: nn.SpatialAutoCropMSECriterion(False),
     lambda r: r.standard_normal((2, 3, 3)), lambda r: r.standard_normal((2, 3, 3)),
     lambda x, t: ((x - t) ** 2).sum()),
    ("WeightedMSE", lambda: nn.WeightedMSECriterion(W4), lambda r: r.standard_normal((3, 4)),
     lambda r: r.standard_normal((3, 4)), lambda x, t: ((x - W4 * t) ** 2).mean()),
    ("L1Cost", lambda: nn.L1Cost(), lambda r: r.standard_normal((3, 4)), lambda r: None,
     lambda x, t: np.abs(x).sum()),
    ("Parallel", lambda: nn.ParallelCriterion().add(nn.MSECriterion(), 0.5)
     .add(nn.ClassNLLCriterion()), lambda r: [r.standard_normal(3), _lsm(r.standard_normal(4))],
     lambda r: [r.standard_normal(3), 2], lambda x, t: 0.5 * ((x[0] - t[0]) ** 2).mean() - x[1][1]),
    ("Parallel_repeat", lambda: nn.ParallelCriterion(True).add(nn.MSECriterion())
     .add(nn.AbsCriterion(), 2), lambda r: [r.standard_normal(3), r.standard_normal(3)],
     lambda r: r.standard_normal(3),
     lambda x, t: ((x[0] - t) ** 2).mean() + 2 * np.abs(x[1] - t).mean()),
    ("Multi", lambda: nn.MultiCriterion().add(nn.MSECriterion()).add(nn.AbsCriterion(), 0.5),
     lambda r: r.standard_normal((3, 4)), lambda r: r.standard_normal((3, 4)),
     lambda x, t: ((x - t) ** 2).mean() + 0.5 * np.abs(x - t).mean()),
    ("Module", lambda: nn.ModuleCriterion(nn.ClassNLLCriterion(), nn.LogSoftMax()),
     lambda r: r.standard_normal((3, 5)), lambda r: np.array([2, 5, 1]),
     lambda x, t: -_lsm(x)[np.arange(3), t - 1].mean()),
    ("Module_target", lambda: nn.ModuleCriterion(nn.MSECriterion(), nn.Tanh(), nn.Sigmoid()),
     lambda r: r.standard_normal((3, 4)), lambda r: r.standard_normal((3, 4)),
     lambda x, t: ((np.tanh(x) - _sigmoid(t)) ** 2).mean()),
]  # fmt: skip
IDS = [c[0] for c in CASES]
# Lua's backward asserts a target of the input's size, the very case this one exists for
FORWARD_ONLY = {"SpatialAutoCropMSE"}
BACKWARD_CASES = [c for c in CASES if c[0] not in FORWARD_ONLY]
BACKWARD_IDS = [c[0] for c in BACKWARD_CASES]


def _make(case, seed=0):
    _, make, xin, tin, ref = case
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crit = make()
    return crit, xin(rng), tin(rng), ref


def _map(v, fn):
    if isinstance(v, list):
        return [_map(a, fn) for a in v]
    return fn(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v


def _flat_grad(g):
    if isinstance(g, list):
        return np.concatenate([_flat_grad(a) for a in g])
    return B.to_numpy(g).reshape(-1).astype(np.float64)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_reference(case, backend):
    crit, x, t, ref = _make(case)
    expected = ref(x, t)
    crit.type(backend.double)
    loss = crit.forward(_map(x, backend.asarray), _map(t, backend.asarray))
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert crit.output == loss


class _Flat:
    """A criterion seen through one flat array (for table inputs), for criterion_jacobian."""

    def __init__(self, crit, shapes):
        self.crit, self.shapes = crit, shapes

    def _split(self, flat):
        out, at = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            out.append(flat[at : at + n].reshape(s))
            at += n
        return out

    def forward(self, flat, t):
        return self.crit.forward(self._split(flat), t)

    def backward(self, flat, t):
        return np.concatenate([g.reshape(-1) for g in self.crit.backward(self._split(flat), t)])


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=BACKWARD_IDS)
def test_gradient_finite_difference(case):
    crit, x, t, _ = _make(case, seed=1)
    if isinstance(x, list):
        flat = np.concatenate([a.reshape(-1) for a in x])
        fd, bp = R.criterion_jacobian(_Flat(crit, [a.shape for a in x]), flat, t)
    else:
        fd, bp = R.criterion_jacobian(crit, x, t)
    assert np.abs(fd - bp).max() < R.PRECISION
    g = crit.backward(x, t)
    shapes = [a.shape for a in g] if isinstance(g, list) else [g.shape]
    assert shapes == ([a.shape for a in x] if isinstance(x, list) else [x.shape])


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=BACKWARD_IDS)
def test_float_round_trip_and_print(case):
    crit, x, t, _ = _make(case)
    name = type(crit).__name__
    assert str(crit) == repr(crit) == f"nn.{name}"
    loss64 = crit.forward(x, t)
    g64 = _flat_grad(crit.backward(x, t))
    crit.float()
    x32 = _map(x, lambda a: a.astype(np.float32))
    t32 = _map(t, lambda a: a.astype(np.float32))
    loss32 = crit.forward(x32, t32)
    g32 = crit.backward(x32, t32)
    for a in g32 if isinstance(g32, list) else [g32]:
        assert a.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-4, abs=1e-5)
    assert np.allclose(_flat_grad(g32), g64, rtol=1e-3, atol=1e-5)
    with pytest.raises(TypeError, match="expected input"):
        crit.forward(x, t)  # float64 into a float criterion: no silent copy
    crit.double()  # class weights went through float32 and back: float32 precision
    assert crit.forward(x, t) == pytest.approx(loss64, rel=1e-6, abs=1e-7)
    assert _flat_grad(crit.backward(x, t)).dtype == np.float64


@pytest.mark.gpu
@pytest.mark.parametrize("case", BACKWARD_CASES, ids=BACKWARD_IDS)
def test_cupy_matches_numpy(case, backend):
    if not backend.gpu:
        pytest.skip("CuPy against NumPy needs the GPU backend")
    crit, x, t, _ = _make(case)
    loss = crit.forward(x, t)
    g = _flat_grad(crit.backward(x, t))
    gpu = crit.clone().type(backend.double)
    xg, tg = _map(x, backend.asarray), _map(t, backend.asarray)
    assert gpu.forward(xg, tg) == pytest.approx(loss, rel=1e-12, abs=1e-14)
    assert np.allclose(_flat_grad(gpu.backward(xg, tg)), g, rtol=1e-12, atol=1e-14)
    gpu32 = crit.clone().type(backend.float)
    x32 = _map(x, lambda a: backend.asarray(a, np.float32))
    assert gpu32.forward(x32, tg) == pytest.approx(loss, rel=1e-4, abs=1e-5)


# --- what a saved criterion carries for Lua ---------------------------------------------------
# The fields each Lua constructor sets (torch/nn at the golden corpus's commit), besides
# output and gradInput: a saved criterion must carry them, or Lua cannot run it.
LUA_FIELDS = {
    "ClassNLL": {"sizeAverage", "ignoreIndex", "output_tensor", "total_weight_tensor", "target"},
    "ClassNLL_1d_weights": {"weights"},
    "SpatialClassNLL": {"sizeAverage", "weights", "output_tensor", "total_weight_tensor",
                        "target"},
    "CrossEntropy": {"lsm", "nll", "sizeAverage", "oldSizeAverage"},
    "BCE": {"sizeAverage", "weights"},
    "MultiMargin_p2_w": {"p", "margin", "sizeAverage", "weights"},
    "MultiLabelMargin": {"sizeAverage", "isTarget"},
    "MultiLabelSoftMargin": {"sizeAverage", "weights", "sigmoid"},
    "HingeEmbedding": {"margin", "sizeAverage"},
    "L1HingeEmbedding": {"margin"},
    "CosineEmbedding": {"margin", "sizeAverage"},
    "MarginRanking": {"margin", "sizeAverage"},
    "Margin": {"margin", "sizeAverage"},
    "ClassSimplex": {"sizeAverage", "nClasses", "simplex", "_target"},
    "WeightedMSE": {"sizeAverage", "weight"},
    "Parallel_repeat": {"criterions", "weights", "repeatTarget"},
    "Multi": {"criterions", "weights"},
    "Module_target": {"criterion", "inputModule", "targetModule", "castTarget"},
}  # fmt: skip


def _raw(data):
    """A saved object's fields exactly as written, every nn class read as a LuaObject."""
    orig = t7._nn_classes
    t7._nn_classes = lambda: {}
    try:
        return t7.loads(data, unknown="object")
    finally:
        t7._nn_classes = orig


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=BACKWARD_IDS)
def test_saved_criterion_carries_luas_fields_and_reloads(case):
    crit, x, t, _ = _make(case)
    fresh = _raw(t7.dumps(crit)).fields
    want = LUA_FIELDS.get(case[0], set()) | {"output", "gradInput"}
    if isinstance(crit, nn.ModuleCriterion):
        want -= {"output", "gradInput"}  # Lua's ModuleCriterion does not call Criterion's init
    assert want <= set(fresh), f"missing {sorted(want - set(fresh))}"
    if case[0] in ("ClassNLL", "SpatialClassNLL"):
        assert B.to_numpy(fresh["target"]).dtype == np.int64
        assert fresh["output_tensor"].shape == fresh["total_weight_tensor"].shape == (1,)
    loss = crit.forward(x, t)
    g = _flat_grad(crit.backward(x, t))
    back = t7.loads(t7.dumps(crit))
    assert type(back) is type(crit)
    assert back.forward(x, t) == pytest.approx(loss, rel=1e-15)
    assert np.array_equal(_flat_grad(back.backward(x, t)), g)


def test_multicriterion_weights_are_a_double_storage():
    crit = nn.MultiCriterion().add(nn.MSECriterion()).add(nn.AbsCriterion(), 0.5)
    w = _raw(t7.dumps(crit)).fields["weights"]
    assert w.typename == "torch.DoubleStorage" and B.to_numpy(w.array).tolist() == [1, 0.5]
    back = t7.loads(t7.dumps(crit))
    assert back.weights == [1.0, 0.5]
    back.add(nn.MSECriterion(), 2)
    assert back.weights == [1.0, 0.5, 2]


def test_parallel_weights_and_gradinput_are_tables():
    crit = nn.ParallelCriterion().add(nn.MSECriterion(), 0.5)
    fields = _raw(t7.dumps(crit)).fields
    assert fields["weights"] == [0.5] and fields["gradInput"] == []
    assert "repeatTarget" not in fields  # nil in Lua


GOLDEN = os.environ.get("NNLEGACY_GOLDEN_DIR")
# Buffers Lua creates on first use (``self.x = self.x or input.new()``): a criterion that
# lacks them still runs in Lua, so nnlegacy need not write them.
LAZY = {"output_tensor", "buffer", "target_tensor", "_buffer1", "_buffer2", "_output", "dist",
        "mask", "_idx", "_outputs", "w", "w1", "w22", "w32", "_expMinusX", "_expMinusY",
        "_sumExpMinusXY", "_logSumExpMinusXY", "dX", "dY", "loss"}  # fmt: skip


@pytest.mark.skipif(not GOLDEN, reason="NNLEGACY_GOLDEN_DIR is not set to the golden folder")
def test_saved_fields_cover_luas_after_the_same_pass():
    """Lua's own saved criterions (golden files, after forward and backward): every
    field they hold that Lua does not create lazily, nnlegacy's save writes too."""
    import luaconfig

    with open(Path(GOLDEN, "index.json")) as f:
        files = [e for e in json.load(f)["files"] if e["kind"] == "criterion"]
    assert len(files) == 57
    for e in files:
        rec = nn.load(Path(GOLDEN, e["file"]))
        lua = _raw(Path(GOLDEN, e["file"]).read_bytes())["module"].fields
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crit = luaconfig.evaluate(e["config"])
        if "backwardError" not in rec:
            crit.forward(rec["input"], rec.get("target"))
            crit.backward(rec["input"], rec.get("target"))
        ours = set(_raw(t7.dumps(crit)).fields)
        assert set(lua) - LAZY <= ours, (e["file"], sorted(set(lua) - LAZY - ours))


# --- errors: clear, in Lua's words where Lua has them, state unchanged ---------------------
def _state(crit):
    return {k: np.array(B.to_numpy(v)) for k, v in vars(crit).items() if B.is_array(v)}


def _raises(crit, call, exc, match):
    before = _state(crit)
    out = crit.output
    with pytest.raises(exc, match=match):
        call()
    after = _state(crit)
    assert before.keys() == after.keys() and crit.output == out
    for k in before:
        assert np.array_equal(before[k], after[k]), f"{k} changed by the failed call"


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 1e30, 2.5, 0, 6, -3])
def test_classnll_bad_targets(bad):
    crit = nn.ClassNLLCriterion()
    x = _lsm(np.random.default_rng(0).standard_normal((2, 5)))
    crit.forward(x, np.array([1, 2]))
    word = {0: r"target 0 is out of range 1\.\.5 \(class targets are 1-based"}.get(bad)
    if word is None:
        word = "must be whole numbers" if not np.isfinite(bad) or bad != int(bad) else "range"
    t = np.array([1.0, bad])
    _raises(crit, lambda: crit.forward(x, t), ValueError, word)
    _raises(crit, lambda: crit.backward(x, t), ValueError, word)
    _raises(crit, lambda: crit.forward(x[0], bad), ValueError, word)
    if bad == 1e30:
        with pytest.raises(ValueError) as info:
            crit.forward(x, t)
        assert "1e+30" in str(info.value) and "-9223372036854775808" not in str(info.value)


@pytest.mark.parametrize(
    "make, x, t",
    [
        (nn.SpatialClassNLLCriterion, np.zeros((1, 3, 2, 2)), np.full((1, 2, 2), np.inf)),
        (nn.MultiMarginCriterion, np.zeros((2, 3)), np.array([1.0, np.nan])),
        (nn.MultiMarginCriterion, np.zeros((2, 3)), np.array([1, 4])),
        (lambda: nn.ClassSimplexCriterion(3), np.zeros((2, 3)), np.array([1.0, 1e30])),
        (nn.CrossEntropyCriterion, np.zeros((2, 3)), np.array([1.0, -np.inf])),
        (nn.MultiLabelMarginCriterion, np.zeros((1, 3)), np.array([[1.0, np.inf, 0]])),
        (nn.MultiLabelMarginCriterion, np.zeros(3), np.array([1, 4, 0])),
    ],
)
def test_class_targets_out_of_range_or_not_finite(make, x, t):
    crit = make()
    _raises(crit, lambda: crit.forward(x, t), ValueError, r"whole numbers|out of range")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_empty_input_is_a_clear_error(case):
    crit, x, t, _ = _make(case)
    if isinstance(x, list):
        x = [a[:0] for a in x]
    elif x.ndim == 1:
        x = x[:0]
    else:
        x = x[:0] if x.ndim != 2 or case[0] != "ClassNLL_1d_weights" else x[:, :0]
    if case[0] not in ("SpatialAutoCropMSE",):
        t = _map(t, lambda a: a[:0]) if isinstance(t, list) else t
        t = t[:0] if B.is_array(t) and t.ndim >= 1 else t
    with pytest.raises((ValueError, TypeError)) as info:
        crit.forward(x, t)
    assert not isinstance(info.value, ZeroDivisionError)
    msg = str(info.value)
    assert "reshape" not in msg and "division" not in msg and "empty" in msg
    assert msg.split(":")[0].replace("nn.", "") in (type(crit).__name__, *_names(crit))


def _names(crit):
    """The criterion and those it holds, whose checks a container's input reaches."""
    inner = list(getattr(crit, "criterions", [])) + [getattr(crit, "criterion", None)]
    return [type(c).__name__ for c in inner if c is not None]


def test_lua_words_for_size_errors():
    x = np.zeros((4, 5))
    crit = nn.ClassNLLCriterion()
    _raises(crit, lambda: crit.forward(x, np.array([1, 2, 3])), ValueError,
            r"Assertion `THIndexTensor_\(size\)\(target, 0\) == batch_size' failed")  # fmt: skip
    _raises(crit, lambda: crit.forward(x, np.array([1, 6, 3, 5])), ValueError,
            r"Assertion `cur_target >= 0 && cur_target < n_classes' failed")  # fmt: skip
    mse = nn.MSECriterion()
    _raises(mse, lambda: mse.forward(np.zeros((3, 4)), np.zeros((3, 5))), ValueError,
            r"input\[3 x 4\] has 12 elements, while target\[3 x 5\] has 15 elements")  # fmt: skip
    mm = nn.MultiMarginCriterion()
    _raises(mm, lambda: mm.forward(np.zeros((2, 3)), np.array([1, 2, 3])), ValueError,
            "inconsistent target size")  # fmt: skip
    _raises(mm, lambda: mm.forward(np.zeros((2, 2, 2)), np.array([1, 2])), ValueError,
            "vector or matrix expected")  # fmt: skip
    sp = nn.SpatialClassNLLCriterion()
    _raises(
        sp,
        lambda: sp.forward(np.zeros((2, 3, 2, 2)), np.ones((2, 2, 3))),
        ValueError,
        r"input and target batch or spatial sizes don't match: target \[2 x 2 x 3\]",
    )
    _raises(sp, lambda: sp.forward(np.zeros((3, 2, 2)), np.ones((2, 2, 3))), ValueError,
            "only batches of spatial inputs supported")  # fmt: skip
    dr = nn.DistanceRatioCriterion()
    _raises(dr, lambda: dr.forward([np.ones(3)]), ValueError, "Invalid number of inputs")
    ac = nn.SpatialAutoCropMSECriterion()
    _raises(ac, lambda: ac.forward(np.zeros((1, 4, 4)), np.zeros((1, 3, 5))), ValueError,
            "Spatial resolution of input should be less than or equal")  # fmt: skip
    _raises(ac, lambda: ac.backward(np.zeros((1, 2, 2)), np.zeros((1, 3, 3))), ValueError,
            "gradOutput and input must have the same size")  # fmt: skip
    with pytest.raises(ValueError, match="only p=1 and p=2 supported"):
        nn.MultiMarginCriterion(3)
    with pytest.raises(ValueError, match="weights input should be 1-D Tensor"):
        nn.SpatialClassNLLCriterion(np.ones((2, 2)))
    with pytest.raises(ValueError, match="nClasses > 1"):
        nn.ClassSimplexCriterion(1)


# --- behaviour particular to one criterion -----------------------------------------------------
def test_multilabelmargin_istarget_and_ignored_tail():
    crit = nn.MultiLabelMarginCriterion()
    x = np.random.default_rng(2).standard_normal((2, 4))
    t = np.array([[3, 1, 0, 4], [2, 0, 0, 0]])  # the 4 after the 0 is ignored
    crit.forward(x, t)
    assert crit.isTarget.tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]
    assert crit.output == pytest.approx(multilabel_ref(x, t))


def test_classsimplex_is_a_regular_simplex_and_predicts():
    for n in (2, 3, 4, 7):
        assert _simplex_ok(nn.ClassSimplexCriterion(n).simplex, n)
    crit = nn.ClassSimplexCriterion(4)
    x = crit.simplex[[2, 0, 3]] * 3
    assert crit.getTopPrediction(x).tolist() == [3, 1, 4]
    assert crit.getPredictions(x[0]).shape == (1, 4)


def test_l1penalty_is_identity_with_a_penalty_gradient():
    x = np.random.default_rng(3).standard_normal((3, 4))
    go = np.random.default_rng(4).standard_normal((3, 4))
    m = nn.L1Penalty(0.1)
    assert m.forward(x) is x and m.loss == pytest.approx(0.1 * np.abs(x).sum())
    assert np.allclose(m.backward(x, go), go + 0.1 * np.sign(x))
    m = nn.L1Penalty(0.1, True, False)
    m.forward(x)
    assert m.loss == pytest.approx(0.1 * np.abs(x).mean())
    assert np.allclose(m.backward(x, go), 0.1 / 12 * np.sign(x))
    assert str(m) == "nn.L1Penalty"


def test_no_target_criterions_take_forward_input_alone():
    x = np.array([1.0, -2, 0.5])
    assert nn.L1Cost().forward(x) == 3.5
    assert nn.L1Cost().backward(x).tolist() == [1, -1, 1]
    d = nn.DistanceRatioCriterion()
    loss, g = d([np.ones(2), np.zeros(2)])
    assert loss == pytest.approx(np.log(1 + np.e)) and len(g) == 2


def test_modulecriterion_casttarget_false_keeps_the_target_module_type():
    crit = nn.ModuleCriterion(nn.MSECriterion(), nn.Tanh(), nn.Sigmoid(), False)
    crit.float()
    assert crit.inputModule.type() == "torch.FloatTensor"
    assert crit.targetModule.type() == "torch.DoubleTensor"


def test_sizeaverage_set_as_a_field():
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, -1.0, -1.0])
    for make in (nn.SoftMarginCriterion, nn.MarginCriterion, nn.HingeEmbeddingCriterion,
                 nn.DistKLDivCriterion, nn.AbsCriterion):  # fmt: skip
        crit = make()
        yy = np.abs(y) / 3 if make is nn.DistKLDivCriterion else y
        mean = crit.forward(x, yy)
        crit.sizeAverage = False
        assert crit.forward(x, yy) == pytest.approx(3 * mean)
