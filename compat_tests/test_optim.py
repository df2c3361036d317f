"""optim: each update rule against spec 3's closed form, and convergence on Rosenbrock."""

import numpy as np
import pytest

from nnlegacy import optim


def rosenbrock(x):
    """f and df/dx of optim's rosenbrock.lua, written from spec 3.8."""
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    d = np.zeros_like(x)
    d[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    d[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, d


A = np.array([1.0, -2.0, 0.5])


def quad(x):
    """f = sum(a * x^2) / 2 with a fresh gradient array each call."""
    return float(np.sum(A * x * x) / 2), A * x


def run(method, config, steps, x0=(1.0, 1.0, -1.0), state=None):
    x = np.array(x0)
    fs = []
    for _ in range(steps):
        x2, fx = method(quad, x, config, state)
        assert x2 is x  # updated in place and returned
        fs.append(fx[0])
    return x, fs


def test_sgd_plain_and_decay():
    x, fs = run(optim.sgd, {"learningRate": 0.1, "learningRateDecay": 0.5, "weightDecay": 0.01}, 3)
    e = np.array([1.0, 1.0, -1.0])
    for n in range(3):
        g = A * e + 0.01 * e
        e = e - 0.1 / (1 + n * 0.5) * g
    np.testing.assert_allclose(x, e, rtol=1e-14)
    assert fs[0] == pytest.approx(quad(np.array([1.0, 1.0, -1.0]))[0])


def test_sgd_momentum_dampening_defaults_to_momentum():
    config = {"learningRate": 0.1, "momentum": 0.9}
    x, _ = run(optim.sgd, config, 3)
    e = np.array([1.0, 1.0, -1.0])
    v = None
    for _ in range(3):
        g = A * e
        v = g.copy() if v is None else 0.9 * v + (1 - 0.9) * g  # first step: no dampening
        e = e - 0.1 * v
    np.testing.assert_allclose(x, e, rtol=1e-14)
    assert config["evalCounter"] == 3 and "dfdx" in config  # state kept in config


def test_sgd_nesterov_and_learning_rates():
    config = {
        "learningRate": 0.1,
        "momentum": 0.5,
        "dampening": 0,
        "nesterov": True,
        "learningRates": np.array([1.0, 0.5, 2.0]),
    }
    state = {}
    x, _ = run(optim.sgd, config, 2, state=state)
    e = np.array([1.0, 1.0, -1.0])
    v = None
    for _ in range(2):
        g = A * e
        v = g.copy() if v is None else 0.5 * v + g
        g = g + 0.5 * v
        e = e - 0.1 * np.array([1.0, 0.5, 2.0]) * g
    np.testing.assert_allclose(x, e, rtol=1e-14)
    assert state["evalCounter"] == 2 and "evalCounter" not in config
    with pytest.raises(
        ValueError, match="Nesterov momentum requires a momentum and zero dampening"
    ):
        optim.sgd(quad, np.ones(3), {"momentum": 0.5, "nesterov": True})


def test_sgd_weight_decays_and_in_place_gradient():
    g_seen = []

    def f(x):
        g = A * x
        g_seen.append(g)
        return 0.0, g

    x = np.array([1.0, 2.0, 3.0])
    optim.sgd(f, x, {"learningRate": 1.0, "weightDecays": np.array([0.1, 0.0, 1.0])})
    np.testing.assert_allclose(g_seen[0], A * [1, 2, 3] + np.array([0.1, 0, 1]) * [1, 2, 3])
    np.testing.assert_allclose(x, [1, 2, 3] - g_seen[0])


def test_nag():
    x, _ = run(optim.nag, {"learningRate": 0.1, "momentum": 0.8}, 3)
    e = np.array([1.0, 1.0, -1.0])
    v = None
    for _ in range(3):
        if v is not None:
            e = e + 0.8 * v
        g = A * e
        v = np.zeros(3) if v is None else v * 0.8
        e = e - 0.1 * g
        v = v - 0.1 * g
    np.testing.assert_allclose(x, e, rtol=1e-14)
    with pytest.raises(ValueError, match="Momentum must be positive"):
        optim.nag(quad, np.ones(3), {"momentum": 0})


def test_adagrad(capsys):
    x, _ = run(optim.adagrad, {"learningRate": 0.1}, 3)
    e = np.array([1.0, 1.0, -1.0])
    acc = np.zeros(3)
    for _ in range(3):
        g = A * e
        acc += g * g
        e = e - 0.1 * g / (np.sqrt(acc) + 1e-10)
    np.testing.assert_allclose(x, e, rtol=1e-14)
    optim.adagrad(quad, np.ones(3))
    assert "no state table, ADAGRAD initializing" in capsys.readouterr().out


def test_adadelta():
    config = {"rho": 0.8, "eps": 1e-4}
    x, _ = run(optim.adadelta, config, 3)
    e = np.array([1.0, 1.0, -1.0])
    pv, acc = np.zeros(3), np.zeros(3)
    for _ in range(3):
        g = A * e
        pv = 0.8 * pv + 0.2 * g * g
        d = np.sqrt(acc + 1e-4) / np.sqrt(pv + 1e-4) * g
        e = e - d
        acc = 0.8 * acc + 0.2 * d * d
    np.testing.assert_allclose(x, e, rtol=1e-13)
    assert set(config) >= {"evalCounter", "paramVariance", "paramStd", "delta", "accDelta"}


def test_rmsprop():
    config = {"learningRate": 0.05, "alpha": 0.9, "initialMean": 0.5}
    x, _ = run(optim.rmsprop, config, 3)
    e = np.array([1.0, 1.0, -1.0])
    m = np.full(3, 0.5)
    for _ in range(3):
        g = A * e
        m = 0.9 * m + 0.1 * g * g
        e = e - 0.05 * g / (np.sqrt(m) + 1e-8)
    np.testing.assert_allclose(x, e, rtol=1e-14)
    assert "evalCounter" not in config


def test_adam():
    config = {"learningRate": 0.01, "learningRateDecay": 0.1}
    x, _ = run(optim.adam, config, 3)
    e = np.array([1.0, 1.0, -1.0])
    m, v = np.zeros(3), np.zeros(3)
    for t in range(1, 4):
        g = A * e
        clr = 0.01 / (1 + (t - 1) * 0.1)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = clr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        e = e - step * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(x, e, rtol=1e-13)
    assert config["t"] == 3


@pytest.mark.parametrize(
    "method,config,steps,tol",
    [
        (optim.sgd, {"learningRate": 1e-3}, 10001, 1e-4),
        (
            optim.sgd,
            {"learningRate": 1e-3, "momentum": 0.9, "dampening": 0, "nesterov": True},
            10001,
            1e-12,
        ),
        (optim.nag, {"learningRate": 1e-3}, 10001, 1e-12),
        (optim.adam, {"learningRate": 0.002}, 10001, 1e-12),
        (optim.adagrad, {"learningRate": 1e-1}, 10001, 1e-8),
        (optim.adadelta, {"eps": 1e-10}, 10001, 1e-4),
        (optim.rmsprop, {"learningRate": 5e-4}, 10001, 1e-4),
    ],
)
def test_rosenbrock_convergence(method, config, steps, tol):
    # optim's own test_*.lua settings: 10001 iterations from (0, 0)
    x = np.zeros(2)
    f0 = rosenbrock(x)[0]
    fs = []
    for _ in range(steps):
        _, fx = method(rosenbrock, x, config)
        fs.append(fx[0])
    assert fs[-1] < f0 and fs[-1] < fs[len(fs) // 2] + 1e-12
    assert rosenbrock(x)[0] < tol
