"""Criterions against the formulas of spec 2.27-2.30, and their gradients."""

import numpy as np
import pytest
import reference as R

import nnlegacy as nn


def log_probs(rng, n, c):
    x = rng.standard_normal((n, c))
    return x - np.log(np.exp(x).sum(1, keepdims=True))


def test_classnll_formula_and_total_weight(backend):
    rng = np.random.default_rng(1)
    x = log_probs(rng, 5, 4)
    t = np.array([1, 4, 2, 2, 3])
    crit = nn.ClassNLLCriterion()
    crit.type(backend.double)
    loss = crit.forward(backend.asarray(x), t)
    assert isinstance(loss, float)
    assert loss == pytest.approx(-np.mean(x[np.arange(5), t - 1]), rel=1e-12)
    assert crit.total_weight == 5
    assert crit.output == loss


def test_classnll_weights_sizeaverage_ignoreindex():
    rng = np.random.default_rng(2)
    x = log_probs(rng, 6, 3)
    t = np.array([1, 3, 2, -1, 3, 1])
    w = np.array([0.2, 0.5, 1.5])
    crit = nn.ClassNLLCriterion(w, True, -1)
    keep = t != -1
    wt = w[t[keep] - 1]
    expected = -(wt * x[keep][np.arange(keep.sum()), t[keep] - 1]).sum() / wt.sum()
    assert crit.forward(x, t) == pytest.approx(expected, rel=1e-12)
    assert crit.total_weight == pytest.approx(wt.sum())
    g = crit.backward(x, t)
    assert np.all(g[3] == 0)  # the ignored row
    fd, bp = R.criterion_jacobian(crit, x, t)
    assert np.abs(fd - bp).max() < R.PRECISION
    crit.sizeAverage = False
    assert crit.forward(x, t) == pytest.approx(expected * wt.sum(), rel=1e-12)


def test_classnll_ignored_batch_is_zero():
    crit = nn.ClassNLLCriterion(None, True, -1)
    x = log_probs(np.random.default_rng(3), 1, 4)[0]
    assert crit.forward(x, -1) == 0
    assert np.all(crit.backward(x, -1) == 0)


def test_classnll_1d_input_and_number_target():
    x = log_probs(np.random.default_rng(4), 1, 5)[0]
    crit = nn.ClassNLLCriterion()
    assert crit.forward(x, 3) == pytest.approx(-x[2])
    g = crit.backward(x, 3)
    assert g.tolist() == [0, 0, -1, 0, 0]
    # 1-D with weights and no size averaging: -w[t]
    crit = nn.ClassNLLCriterion(np.array([1.0, 2, 3, 4, 5]), False)
    assert crit.backward(x, 3).tolist() == [0, 0, -3, 0, 0]


def test_classnll_zero_target_says_one_based():
    crit = nn.ClassNLLCriterion()
    with pytest.raises(
        ValueError, match=r"target 0 is out of range 1..4 \(class targets are 1-based"
    ):
        crit.forward(np.zeros((2, 4)), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"target 5 is out of range 1..4"):
        crit.forward(np.zeros((2, 4)), np.array([1, 5]))
    assert crit.output == 0.0  # unchanged


def test_classnll_other_errors():
    crit = nn.ClassNLLCriterion()
    with pytest.raises(ValueError, match="input tensor should be 1D or 2D"):
        crit.forward(np.zeros((2, 2, 2)), np.array([1, 1]))
    with pytest.raises(ValueError, match="multi-target not supported"):
        crit.forward(np.zeros((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="weights input should be 1-D Tensor"):
        nn.ClassNLLCriterion(np.ones((2, 2)))
    with pytest.raises(
        ValueError, match="weight tensor should be defined either for all 3 classes or no classes"
    ):
        nn.ClassNLLCriterion(np.ones(4)).forward(np.zeros((2, 3)), np.array([1, 2]))
    with pytest.raises(ValueError, match="expected 2 target"):
        crit.forward(np.zeros((2, 3)), np.array([1, 2, 3]))


def test_crossentropy_is_logsoftmax_plus_nll(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6))
    t = np.array([6, 1, 3, 3])
    crit = nn.CrossEntropyCriterion()
    crit.type(backend.double)
    lsm = x - np.log(np.exp(x).sum(1, keepdims=True))
    assert crit.forward(backend.asarray(x), t) == pytest.approx(
        -lsm[np.arange(4), t - 1].mean(), rel=1e-12
    )
    if not backend.gpu:
        fd, bp = R.criterion_jacobian(crit, x, t)
        assert np.abs(fd - bp).max() < R.PRECISION


def test_crossentropy_sizeaverage_propagates():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4))
    t = np.array([1, 2, 3])
    crit = nn.CrossEntropyCriterion()
    mean = crit.forward(x, t)
    crit.sizeAverage = False
    assert crit.forward(x, t) == pytest.approx(3 * mean)
    zeros = nn.CrossEntropyCriterion().forward(np.zeros((1, 5)), np.array([2]))
    assert zeros == pytest.approx(np.log(5))


def test_mse(backend):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(12)
    crit = nn.MSECriterion()
    crit.type(backend.double)
    assert crit.forward(backend.asarray(x), backend.asarray(y)) == pytest.approx(
        ((x - y.reshape(3, 4)) ** 2).mean()
    )
    if not backend.gpu:
        fd, bp = R.criterion_jacobian(crit, x, y)
        assert np.abs(fd - bp).max() < R.PRECISION
        assert nn.MSECriterion(False).forward(x, y) == pytest.approx(
            ((x - y.reshape(3, 4)) ** 2).sum()
        )
    with pytest.raises(
        ValueError,
        match=r"input and target have different number of elements: input\[3 x 4\] has 12 elements, while target\[5\] has 5 elements",
    ):
        crit.forward(backend.asarray(x), backend.asarray(np.zeros(5)))


def test_bce_formula_weights_and_errors():
    rng = np.random.default_rng(8)
    eps = 1e-2
    x = rng.uniform(eps / 2, 1 - eps / 2, (5, 10))
    y = (rng.uniform(size=(5, 10)) > 0.5).astype(float)
    w = rng.uniform(size=10)
    crit = nn.BCECriterion(w)
    expected = -(w * (y * np.log(x + 1e-12) + (1 - y) * np.log(1 - x + 1e-12))).mean()
    assert crit.forward(x, y) == pytest.approx(expected, rel=1e-12)
    fd, bp = R.criterion_jacobian(crit, x, y)
    assert np.abs(fd - bp).max() < R.PRECISION
    fd, bp = R.criterion_jacobian(nn.BCECriterion(), x[0], y[0])
    assert np.abs(fd - bp).max() < R.PRECISION
    with pytest.raises(ValueError, match="input value should be between 0~1, but got 1.500000"):
        nn.BCECriterion().forward(np.array([0.5, 1.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="input and target size mismatch"):
        nn.BCECriterion().forward(np.array([0.5, 0.5]), np.array([1.0]))


def test_criterion_call_returns_loss_and_grad():
    crit = nn.MSECriterion()
    loss, g = crit(np.ones(3), np.zeros(3))
    assert loss == 1.0 and g.tolist() == [2 / 3] * 3
    assert repr(crit) == "nn.MSECriterion"
