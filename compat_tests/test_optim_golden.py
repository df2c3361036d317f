"""optim against Lua Torch7's own trajectories (golden/optim, written by real optim).

Each file ran 10 calls of ``optim.<algo>(opfunc, x, config)`` (state = config) on the
Rosenbrock function and on a small quadratic; here every call is replayed: x after
each call, the returned f values, further returned values, every evaluation made,
and the state table at the end. fista, cmaes and de ran once each; cmaes and de
draw from Torch's generator, which nnlegacy.torchrandom reproduces.
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest

import nnlegacy
from nnlegacy import optim, torchrandom

GOLDEN = os.environ.get("NNLEGACY_GOLDEN_DIR")
pytestmark = pytest.mark.skipif(
    not GOLDEN or not (Path(GOLDEN) / "optim").is_dir(),
    reason="NNLEGACY_GOLDEN_DIR (with optim/) is not set; the golden corpus lives in ../shared",
)

QA = np.array([[3.0, 1, 0], [1, 2, 0.5], [0, 0.5, 1]])
QB = np.array([1.0, -2, 0.5])


def fdot(a, b):
    """BLAS dot as OpenBLAS computes it on short vectors: one rounding per step."""
    acc = 0.0
    for u, v in zip(a.tolist(), b.tolist()):
        acc = float(np.longdouble(u) * np.longdouble(v) + np.longdouble(acc))
    return acc


def quadratic(x):
    """gen/optim.lua's quadratic, with torch.mv and dot rounded as BLAS rounds them."""
    ax = np.array([fdot(row, x) for row in QA])
    return 0.5 * fdot(x, ax) - fdot(QB, x), ax - QB


OBJECTIVES = {"rosenbrock": optim.rosenbrock, "quadratic": quadratic}

# the Lua config tables of gen/optim.lua, as Python dicts (D = size of x)
CONFIGS = {
    "sgd_1": lambda D: {"learningRate": 1e-3},
    "sgd_2": lambda D: {"learningRate": 1e-3, "momentum": 0.9},
    "sgd_3": lambda D: {"learningRate": 1e-3, "momentum": 0.9, "dampening": 0, "nesterov": True},
    "sgd_4": lambda D: {"learningRate": 1e-3, "weightDecay": 0.1, "learningRateDecay": 0.1},
    "sgd_5": lambda D: {
        "learningRate": 1e-3,
        "momentum": 0.5,
        "dampening": 0.2,
        "weightDecays": np.full(D, 0.05),
        "learningRates": np.arange(1.0, D + 1),
    },
    "nag_1": lambda D: {"learningRate": 1e-3, "momentum": 0.9},
    "nag_2": lambda D: {
        "learningRate": 1e-3,
        "momentum": 0.5,
        "weightDecay": 0.01,
        "learningRateDecay": 0.1,
    },
    "adagrad_1": lambda D: {"learningRate": 0.1},
    "adagrad_2": lambda D: {"learningRate": 0.1, "learningRateDecay": 0.1, "weightDecay": 0.01},
    "adadelta_1": lambda D: {},
    "adadelta_2": lambda D: {"rho": 0.95, "eps": 1e-4, "weightDecay": 0.01},
    "rmsprop_1": lambda D: {"learningRate": 1e-2},
    "rmsprop_2": lambda D: {
        "learningRate": 1e-2,
        "alpha": 0.9,
        "epsilon": 1e-6,
        "weightDecay": 0.01,
        "initialMean": 0.1,
    },
    "adam_1": lambda D: {"learningRate": 0.01},
    "adam_2": lambda D: {
        "learningRate": 0.01,
        "beta1": 0.8,
        "beta2": 0.99,
        "epsilon": 1e-6,
        "weightDecay": 0.01,
        "learningRateDecay": 0.1,
    },
    "adamax_1": lambda D: {"learningRate": 0.01},
    "adamax_2": lambda D: {
        "learningRate": 0.01,
        "beta1": 0.8,
        "beta2": 0.99,
        "epsilon": 1e-6,
        "weightDecay": 0.01,
    },
    "asgd_1": lambda D: {"eta0": 1e-3},
    "asgd_2": lambda D: {"eta0": 1e-3, "lambda": 1e-3, "alpha": 0.5, "t0": 3},
    "rprop_1": lambda D: {"stepsize": 0.1},
    "rprop_2": lambda D: {
        "stepsize": 0.05,
        "etaplus": 1.5,
        "etaminus": 0.3,
        "stepsizemax": 1,
        "stepsizemin": 1e-4,
        "niter": 2,
    },
    "cg_1": lambda D: {"maxIter": 2},
    "cg_2": lambda D: {"maxIter": 20, "rho": 0.05, "sig": 0.4, "ext": 2.0},
    "lbfgs_1": lambda D: {"maxIter": 2, "learningRate": 1},
    "lbfgs_2": lambda D: {"maxIter": 2, "lineSearch": optim.lswolfe},
    "lbfgs_3": lambda D: {
        "maxIter": 20,
        "nCorrection": 5,
        "lineSearch": optim.lswolfe,
        "tolFun": 1e-10,
        "tolX": 1e-12,
    },
    "lbfgs_4": lambda D: {"maxIter": 3, "learningRate": 0.5, "nCorrection": 2},
}
# scratch buffers gen/optim.lua drops from the stored state (uninitialised memory)
DROPPED = {"dir_bufs", "stp_bufs", "tmp", "df3"}


def tolerance(objective):
    # rounding differences grow along the Rosenbrock valley (golden README)
    return 1e-10 if objective == "rosenbrock" else 1e-12


def close(got, want, rtol, where):
    """Recursive comparison of numbers, strings, arrays, lists and dicts."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: expected a table, got {type(got).__name__}"
        assert set(got) == set(want), f"{where}: keys {sorted(got)} != Lua's {sorted(want)}"
        for k in want:
            close(got[k], want[k], rtol, f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: {len(got)} entries, Lua has {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, rtol, f"{where}[{i + 1}]")
    elif isinstance(want, str):
        assert got == want, f"{where}: {got!r} != {want!r}"
    elif isinstance(want, bool):
        assert got is want, f"{where}: {got!r} != {want!r}"
    else:
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        assert g.size == w.size, f"{where}: shape {g.shape} != Lua's {w.shape}"
        g, w = g.reshape(w.shape), w
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-14, equal_nan=True, err_msg=where)


def state_as_lua(state):
    """Our state table in the form gen/optim.lua stored Lua's."""
    out = {}
    for k, v in state.items():
        if k in DROPPED:
            continue
        if callable(v):
            v = "<function optim.lswolfe>" if v is optim.lswolfe else "<function>"
        out[k] = v
    if "ro" in out and "old_dirs" in out:
        out["ro"] = out["ro"][: len(out["old_dirs"])]
    return out


def load(name):
    return nnlegacy.load(str(Path(GOLDEN) / "optim" / f"{name}.t7"))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("objective", ["rosenbrock", "quadratic"])
def test_trajectory(name, objective):
    rec = load(name)[objective]
    rtol = tolerance(objective)
    evals = []

    def opfunc(x):
        # the k-th evaluation must be at Lua's k-th point; it then gets Lua's own f
        # and df there, so only the optimizer's arithmetic is under test
        k = len(evals)
        assert k < rec["nEvals"], f"{name} {objective}: more evaluations than Lua's {rec['nEvals']}"
        close(x, rec["evals"]["x"][k], rtol, f"{name} {objective} point of evaluation {k + 1}")
        evals.append(x.copy())
        return float(rec["evals"]["f"][k]), rec["evals"]["df"][k].copy()

    algo = getattr(optim, name.rsplit("_", 1)[0])
    x = np.array(rec["x0"], dtype=np.float64)
    config = CONFIGS[name](x.size)
    for step in range(10):
        res = algo(opfunc, x, config)
        assert res[0] is x, "x is updated in place and returned"
        close(x, rec["x"][step + 1], rtol, f"{name} {objective} x after call {step + 1}")
        close(res[1], rec["f"][step], rtol, f"{name} {objective} f of call {step + 1}")
        extra = [getattr(res, "nEval", None), getattr(res, "currentFuncEval", None)]
        extra = [v for v in extra if v is not None] + list(res[2:])
        close(
            extra,
            rec["returns"][step],
            rtol,
            f"{name} {objective} further returns of call {step + 1}",
        )
    assert len(evals) == rec["nEvals"]
    close(state_as_lua(config), rec["state"], rtol, f"{name} {objective} state")


def prox_problem(rec, objective):
    lam = rec["lambda"]
    func = OBJECTIVES[objective]
    evals = []

    def fsmooth(x, mode=None):
        f, df = func(x)
        evals.append((x.copy(), f))
        return (f, df) if mode == "dx" else f

    def gnon(x):
        return lam * float(np.abs(x).sum())

    def prox(x, L):  # noqa: N803
        x[...] = np.sign(x) * np.clip(np.abs(x) - lam / L, 0, math.inf)

    return fsmooth, gnon, prox, evals


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("objective", ["rosenbrock", "quadratic"])
def test_fista(k, objective, capsys):
    rec = load(f"fista_{k}")[objective]
    fsmooth, gnon, prox, evals = prox_problem(rec, objective)
    params = {
        key: rec["state"][key]
        for key in ("L", "Lstep", "maxiter", "maxline", "errthres", "doFistaUpdate", "verbose")
    }
    params["L"] = {1: 0.1, 2: 1}[k]
    x = np.array(rec["x0"], dtype=np.float64)
    y, history = optim.FistaLS(fsmooth, gnon, prox, x, params)
    rtol = tolerance(objective)
    close(y, rec["result"], rtol, "result")
    close(x, rec["xinitAfter"], rtol, "xinit after")
    close(np.array([h["y"] for h in history]), rec["x"], rtol, "history y")
    close(history, rec["history"], rtol, "history")
    close(np.array([e[0] for e in evals]), rec["evals"]["x"], rtol, "evals.x")
    close(params, rec["state"], rtol, "params")
    assert capsys.readouterr().out.splitlines() == rec["printed"]


def recorded(func):
    """(opfunc, evals): ``func`` with each evaluation's (x, f) appended to ``evals``."""
    evals = []

    def opfunc(x):
        f, df = func(x)
        evals.append((x.copy(), f))
        return f, df

    return opfunc, evals


@pytest.mark.parametrize("objective", ["rosenbrock", "quadratic"])
def test_de(objective):
    rec = load("de_1")[objective]
    opfunc, evals = recorded(OBJECTIVES[objective])
    config = {
        "popsize": 8,
        "scaleFactor": 0.5,
        "crossoverRate": 0.7,
        "maxFEs": 88,
        "maxRegion": 2,
        "minRegion": -2,
    }
    best, fx = optim.de(opfunc, np.array(rec["x0"]), config)
    close(np.array([e[0] for e in evals]), rec["evals"]["x"], 1e-12, "evals.x")
    close(fx, rec["f"], 1e-12, "fx")
    close(best, rec["result"], 1e-12, "result")


@pytest.mark.parametrize("objective", ["rosenbrock", "quadratic"])
def test_cmaes(objective):
    rec = load("cmaes_1")[objective]
    opfunc, evals = recorded(OBJECTIVES[objective])
    torchrandom.manualSeed(1)
    x = np.array(rec["x0"])
    config = {"sigma": 0.5, "popsize": 6, "maxEval": 60, "verb_disp": 0}
    res = optim.cmaes(opfunc, x, config)
    best, fhist = res
    # bookkeeping that holds whatever the eigenvector signs: every evaluation is logged,
    # f_hist ends with the best f, and the result is the best point evaluated
    assert len(evals) == rec["nEvals"] and res.counteval == rec["counteval"]
    fs = np.array([e[1] for e in evals])
    assert fhist[-1] == fs[1:].min()
    np.testing.assert_array_equal(best, evals[1 + int(np.argmin(fs[1:]))][0])
    np.testing.assert_array_equal(x, rec["xAfterCall"])
    # the run itself, draw for draw
    close(np.array([e[0] for e in evals]), rec["evals"]["x"], 1e-10, "evals.x")
    close(fhist, rec["f"], 1e-10, "f history")
    close(best, rec["result"], 1e-10, "result")


@pytest.mark.parametrize("name", ["lbfgs_3", "cg_2", "adam_1"])
def test_rosenbrock_objective(name):
    """optim.rosenbrock gives Lua's f and df at every point Lua evaluated."""
    ev = load(name)["rosenbrock"]["evals"]
    for x, f, df in zip(ev["x"], ev["f"], ev["df"]):
        got_f, got_df = optim.rosenbrock(x.copy())
        assert got_f == pytest.approx(f, rel=1e-14, abs=1e-15)
        np.testing.assert_allclose(got_df, df, rtol=1e-13, atol=1e-13)


def test_confusion_matrix():
    """The four ways of adding, Lua's print-out byte for byte, mat and the rates."""
    rec = load("confusionmatrix")
    scores, targets = rec["scores"], rec["targets"]
    cm = optim.ConfusionMatrix(["a", "b", "c", "d", "e"])
    for i in range(20):
        cm.add(scores[i], int(targets[i]))
    for i in range(20, 30):
        cm.add(int(np.argmax(scores[i])) + 1, int(targets[i]))
    for i in range(30, 35):
        onehot = np.zeros(5)
        onehot[targets[i] - 1] = 1
        cm.add(scores[i], onehot)
    cm.batchAdd(scores[35:50], targets[35:50])
    assert str(cm) == rec["str"]
    np.testing.assert_array_equal(cm.mat, rec["mat"])
    assert cm.valids.dtype == np.float32
    np.testing.assert_array_equal(cm.valids, rec["valids"])
    np.testing.assert_array_equal(cm.unionvalids, rec["unionvalids"])
    for k in ("totalValid", "averageValid", "averageUnionValid"):
        assert getattr(cm, k) == rec[k], k
    for got, k in zip(cm.farFrr(), ("classFrrs", "classFars", "frrs", "fars")):
        np.testing.assert_allclose(got, rec[k], rtol=1e-15, err_msg=k)
    # the saved Lua object loads as a ConfusionMatrix that prints the same
    assert isinstance(rec["matrix"], optim.ConfusionMatrix) and str(rec["matrix"]) == rec["str"]
    # the variant: class 5 never a target (NaN rate, skipped by the averages), target 0 ignored
    v = rec["variant"]
    cm2 = optim.ConfusionMatrix(5)
    cm2.batchAdd(scores, v["targets"])
    assert str(cm2) == v["str"]
    np.testing.assert_array_equal(cm2.mat, v["mat"])
    np.testing.assert_array_equal(cm2.valids, v["valids"])
    for k in ("totalValid", "averageValid", "averageUnionValid"):
        assert getattr(cm2, k) == v[k], k


def test_torch_generator_normal():
    """torch.manualSeed(1); torch.randn(50, 5) before the ConfusionMatrix bumps."""
    rec = load("confusionmatrix")
    want = rec["scores"].copy()
    for i in range(1, 51):
        if i % 5 and i % 7:
            want[i - 1, rec["targets"][i - 1] - 1] -= 2
    got = torchrandom.Generator(1).normal_fill((50, 5))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)
