"""Lua's calling conventions (DESIGN rule 9, README's porting table): one test per row."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import nnlegacy as nn
from nnlegacy import luaargs


# --- nil means "the default" -------------------------------------------------------------
@pytest.mark.parametrize(
    "make,check",
    [
        (lambda: nn.Linear(3, 4, None), lambda m: m.bias is not None and m.bias.shape == (4,)),
        (lambda: nn.Dropout(None), lambda m: m.p == 0.5 and m.v2),
        (lambda: nn.ReLU(None), lambda m: m.inplace is False),
        (lambda: nn.Threshold(None, None), lambda m: m.threshold == 1e-6 and m.val == 0),
        (
            lambda: nn.BatchNormalization(4, None, None, None),
            lambda m: m.eps == 1e-5 and m.momentum == 0.1 and m.affine,
        ),
        (
            lambda: nn.SpatialFullConvolution(1, 2, 3, 3, 2, 2, 0, 0, None, None),
            lambda m: m.adjW == 0 and m.adjH == 0,
        ),
        (
            lambda: nn.SpatialConvolution(1, 2, 3, 3, None, None, 1),
            lambda m: (m.dW, m.dH, m.padW, m.padH) == (1, 1, 1, 1),
        ),
        (lambda: nn.SpatialMaxPooling(2, 2, None, None), lambda m: (m.dW, m.dH) == (2, 2)),
        (lambda: nn.SpatialAveragePooling(3, 3, None, None), lambda m: (m.dW, m.dH) == (1, 1)),
        (lambda: nn.SpatialCrossMapLRN(5, None, None, None), lambda m: m.alpha == 1e-4),
        (lambda: nn.JoinTable(2, None), lambda m: m.nInputDims is None),
    ],
)
def test_none_is_luas_nil_and_takes_the_default(make, check):
    m = make()
    assert check(m)


def test_linear_with_nil_bias_computes_with_a_bias():
    m = nn.Linear(3, 4, None)
    x = np.random.randn(2, 3)
    np.testing.assert_allclose(m.forward(x), x @ m.weight.T + m.bias)


# --- Lua numbers are doubles -------------------------------------------------------------
def test_whole_floats_are_accepted_and_print_as_lua_prints_them():
    assert str(nn.Linear(3072, 1536.0)) == "nn.Linear(3072 -> 1536)"
    assert str(nn.Linear(64.0, 16 / 1)) == "nn.Linear(64 -> 16)"
    m = nn.SpatialConvolution(1, 1, 3, 3, 1, 1, 1.0, 1.0)
    assert str(m) == "nn.SpatialConvolution(1 -> 1, 3x3, 1,1, 1,1)"
    assert m.forward(np.zeros((1, 5, 5))).shape == (1, 5, 5)
    assert str(nn.SpatialMaxPooling(2.0, 2.0)) == "nn.SpatialMaxPooling(2x2, 2,2)"
    assert nn.View(np.float64(4), 4.0).forward(np.zeros(16)).shape == (4, 4)


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: nn.Linear(3, 4.5), "outputSize"),
        (lambda: nn.SpatialConvolution(1, 1, 3.5, 3), "kW"),
        (lambda: nn.SpatialMaxPooling(2, 2, 1.5), "dW"),
        (lambda: nn.Narrow(1, 1.25, 2), "offset"),
    ],
)
def test_a_non_whole_number_where_an_integer_is_needed_names_the_argument(make, arg):
    with pytest.raises(ValueError, match=f"{arg} must be a whole number"):
        make()


def test_lua_number_helper():
    assert luaargs.lua_number(4.0) == 4 and isinstance(luaargs.lua_number(4.0), int)
    assert luaargs.lua_number(np.int64(3)) == 3 and type(luaargs.lua_number(np.int64(3))) is int
    assert luaargs.lua_number(0.5) == 0.5
    assert luaargs.lua_number(True) is True


# --- extra constructor arguments -----------------------------------------------------------
def test_extra_constructor_arguments_are_ignored_with_one_warning_per_class():
    luaargs._warned.discard("ConcatTable")
    with pytest.warns(UserWarning, match=r"nn.ConcatTable: ignoring extra constructor argument"):
        m = nn.ConcatTable(2)
    assert isinstance(m, nn.ConcatTable)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.ConcatTable(2)  # the second time: silent
    luaargs._warned.discard("Sigmoid")
    with pytest.warns(
        UserWarning, match=r"nn.Sigmoid: ignoring extra constructor argument\(s\) True"
    ):
        s = nn.Sigmoid(True)
    np.testing.assert_allclose(s.forward(np.zeros(2)), [0.5, 0.5])


# --- several return values ----------------------------------------------------------------
def test_find_modules_returns_the_modules_and_the_containers_on_request():
    l1, l2 = nn.Linear(2, 3), nn.Linear(3, 1)
    inner = nn.Sequential().add(l1).add(nn.Tanh())
    net = nn.Sequential().add(inner).add(l2)
    assert net.findModules("nn.Linear") == [l1, l2]
    assert len(net.findModules("nn.Linear")) == 2
    nodes, containers = net.findModulesAndContainers("nn.Linear")
    assert nodes == [l1, l2] and containers == [inner, net]


def test_other_methods_with_several_lua_results_follow_rule_7():
    crit = nn.ClassNLLCriterion()
    loss = crit.forward(np.log(np.full((2, 3), 1 / 3)), np.array([1, 2]))
    assert isinstance(loss, float) and crit.total_weight == 2  # first value, rest attributes
    params, grads = nn.Linear(2, 2).parameters()  # scripts take both: a tuple
    assert len(params) == len(grads) == 2
    x, fx = nn.optim.sgd(lambda x: (float((x**2).sum()), 2 * x), np.ones(2), {"learningRate": 0.1})
    assert isinstance(fx, list) and len(fx) == 1


# --- functions assigned to an instance ------------------------------------------------------
def test_a_function_assigned_to_an_instance_gets_self_through_methodtype():
    m = nn.Linear(2, 2)

    def updateGradInput(self, input, gradOutput):  # Lua: m.updateGradInput = function(self, ...)
        self.gradInput = gradOutput @ self.weight * 0  # a patched module that blocks gradients
        return self.gradInput

    m.updateGradInput = types.MethodType(updateGradInput, m)
    gi = m.backward(np.ones((1, 2)), np.ones((1, 2)))
    np.testing.assert_array_equal(gi, 0)
    assert m.gradWeight.any()  # accGradParameters still ran


# --- the random seed ---------------------------------------------------------------------
def test_manual_seed_seeds_initialisation_noise_and_the_generator():
    def draw():
        nn.manualSeed(7)
        w = nn.Linear(3, 3).weight.copy()
        d = nn.Dropout(0.5)
        noise = d.forward(np.ones(50)).copy()
        r = nn.generator().standard_normal(4)
        return w, noise, r

    a, b = draw(), draw()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    nn.manualSeed(7)
    expect = np.random.Generator(np.random.MT19937(7)).random((3, 3))  # the documented stream
    stdv = 1 / np.sqrt(3)
    np.testing.assert_allclose(nn.Linear(3, 3).weight, expect * 2 * stdv - stdv)


def test_zeroing_the_flat_gradients_either_way():
    """Lua's ``g:zero()`` on getParameters' gradients is ``g.fill(0)``; Lua's
    ``net:zeroGradParameters()`` is ``net.zeroGradParameters()``: both leave every module's
    gradient zero, and the module gradients still views of the flat array."""
    net = nn.Sequential().add(nn.Linear(4, 3)).add(nn.Linear(3, 2))
    p, g = net.getParameters()
    for zero in (lambda: g.fill(0), net.zeroGradParameters):
        g[...] = 1.5
        zero()
        assert not g.any()
        assert all(not m.gradWeight.any() and not m.gradBias.any() for m in net.modules)
        net.get(1).gradWeight[0, 0] = 2.0
        assert g[0] == 2.0  # still a view of the flat gradients
