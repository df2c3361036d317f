"""Lua's optim package (spec section 3): sgd, nag, adagrad, adadelta, rmsprop, adam.

Every method is ``x, fx = method(opfunc, x, config=None, state=None)``:
``opfunc(x)`` returns ``(f, df/dx)``; ``x`` is updated in place and returned with
``fx = [f]`` (f before the update). Without ``state`` the state is kept in
``config``, as Lua's ``local state = state or config``. Weight decay is added to
the gradient array in place, as Lua does.
"""

from __future__ import annotations

import numpy as np

from .backend import get_array_module

_AXPY_BLOCK = 1 << 18  # elements per block: a cache-sized temporary


def _axpy(y, a, x):
    """``y += a * x`` in place, as NumPy's ``y += a * x`` computes it (the same two
    roundings), but through a cache-sized temporary: the whole-array temporary of a big
    net's flat parameters (553 MB for VGG-16) costs a page fault per 4 KiB at every
    step and raises the peak memory by its size."""
    if (
        get_array_module(y) is not np
        or y.size <= _AXPY_BLOCK
        or not (y.flags.c_contiguous and x.flags.c_contiguous and y.shape == x.shape)
    ):
        y += a * x
        return y
    yf, xf = y.reshape(-1), x.reshape(-1)
    tmp = np.empty(_AXPY_BLOCK, np.result_type(x, a))
    for i in range(0, yf.size, _AXPY_BLOCK):  # blocks of the flat parameters, not pixels
        t = tmp[: min(_AXPY_BLOCK, yf.size - i)]
        np.multiply(xf[i : i + t.size], a, out=t)
        yf[i : i + t.size] += t
    return y


def _setup(config, state):
    config = {} if config is None else config
    state = config if state is None else state
    return config, state


def sgd(opfunc, x, config=None, state=None):
    """Stochastic gradient descent with Lua's options and defaults.

    learningRate=1e-3, learningRateDecay=0, weightDecay=0, momentum=0,
    dampening=momentum, nesterov=False, learningRates=None, weightDecays=None.
    """
    config, state = _setup(config, state)
    lr = config.get("learningRate", 1e-3)
    lrd = config.get("learningRateDecay", 0)
    wd = config.get("weightDecay", 0)
    mom = config.get("momentum", 0)
    damp = config.get("dampening", mom)
    nesterov = config.get("nesterov", False)
    lrs = config.get("learningRates")
    wds = config.get("weightDecays")
    state["evalCounter"] = state.get("evalCounter", 0)
    n = state["evalCounter"]
    if nesterov and not (mom > 0 and damp == 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    fx, dfdx = opfunc(x)
    if wd != 0:
        _axpy(dfdx, wd, x)
    elif wds is not None:
        state["decayParameters"] = wds * x
        dfdx += state["decayParameters"]
    if mom != 0:
        if "dfdx" not in state:
            state["dfdx"] = dfdx.copy()
        else:
            buf = state["dfdx"]
            buf *= mom
            _axpy(buf, 1 - damp, dfdx)
        if nesterov:
            _axpy(dfdx, mom, state["dfdx"])
        else:
            dfdx = state["dfdx"]
    clr = lr / (1 + n * lrd)
    if lrs is not None:
        state["deltaParameters"] = lrs * dfdx
        x -= clr * state["deltaParameters"]
    else:
        _axpy(x, -clr, dfdx)
    state["evalCounter"] += 1
    return x, [fx]


def nag(opfunc, x, config=None, state=None):
    """Nesterov's accelerated gradient, Sutskever's form (momentum defaults to 0.9)."""
    config, state = _setup(config, state)
    lr = config.get("learningRate", 1e-3)
    lrd = config.get("learningRateDecay", 0)
    wd = config.get("weightDecay", 0)
    mom = config.get("momentum", 0.9)
    lrs = config.get("learningRates")
    state["evalCounter"] = state.get("evalCounter", 0)
    n = state["evalCounter"]
    if mom <= 0:
        raise ValueError("Momentum must be positive for Nesterov Accelerated Gradient")
    if "dfdx" in state:
        x += mom * state["dfdx"]
    fx, dfdx = opfunc(x)
    if wd != 0:
        dfdx += wd * x
    clr = lr / (1 + n * lrd)
    if "dfdx" not in state:
        state["dfdx"] = get_array_module(dfdx).zeros_like(dfdx)
    else:
        state["dfdx"] *= mom
    if lrs is not None:
        state["deltaParameters"] = lrs * dfdx
        step = clr * state["deltaParameters"]
    else:
        step = clr * dfdx
    x -= step
    state["dfdx"] -= step
    state["evalCounter"] += 1
    return x, [fx]


def adagrad(opfunc, x, config=None, state=None):
    """AdaGrad: learningRate=1e-3, learningRateDecay=0, weightDecay=0; eps 1e-10."""
    if config is None and state is None:
        print("no state table, ADAGRAD initializing")
    config, state = _setup(config, state)
    lr = config.get("learningRate", 1e-3)
    lrd = config.get("learningRateDecay", 0)
    wd = config.get("weightDecay", 0)
    state["evalCounter"] = state.get("evalCounter", 0)
    n = state["evalCounter"]
    fx, dfdx = opfunc(x)
    if wd != 0:
        dfdx += wd * x
    clr = lr / (1 + n * lrd)
    xp = get_array_module(dfdx)
    if "paramVariance" not in state:
        state["paramVariance"] = xp.zeros_like(dfdx)
        state["paramStd"] = xp.zeros_like(dfdx)
    state["paramVariance"] += dfdx * dfdx
    state["paramStd"] = xp.sqrt(state["paramVariance"])
    x -= clr * dfdx / (state["paramStd"] + 1e-10)
    state["evalCounter"] += 1
    return x, [fx]


def adadelta(opfunc, x, config=None, state=None):
    """ADADELTA: rho=0.9, eps=1e-6, weightDecay=0; no learning rate."""
    if config is None and state is None:
        print("no state table, ADADELTA initializing")
    config, state = _setup(config, state)
    rho = config.get("rho", 0.9)
    eps = config.get("eps", 1e-6)
    wd = config.get("weightDecay", 0)
    state["evalCounter"] = state.get("evalCounter", 0)
    fx, dfdx = opfunc(x)
    if wd != 0:
        dfdx += wd * x
    xp = get_array_module(dfdx)
    if "paramVariance" not in state:
        for k in ("paramVariance", "paramStd", "delta", "accDelta"):
            state[k] = xp.zeros_like(dfdx)
    pv = state["paramVariance"]
    pv *= rho
    pv += (1 - rho) * dfdx * dfdx
    state["paramStd"] = xp.sqrt(pv + eps)
    state["delta"] = xp.sqrt(state["accDelta"] + eps) / state["paramStd"] * dfdx
    x -= state["delta"]
    acc = state["accDelta"]
    acc *= rho
    acc += (1 - rho) * state["delta"] * state["delta"]
    state["evalCounter"] += 1
    return x, [fx]


def rmsprop(opfunc, x, config=None, state=None):
    """RMSprop: learningRate=1e-2, alpha=0.99, epsilon=1e-8, weightDecay=0, initialMean=0."""
    config, state = _setup(config, state)
    lr = config.get("learningRate", 1e-2)
    alpha = config.get("alpha", 0.99)
    epsilon = config.get("epsilon", 1e-8)
    wd = config.get("weightDecay", 0)
    mfill = config.get("initialMean", 0)
    fx, dfdx = opfunc(x)
    if wd != 0:
        dfdx += wd * x
    xp = get_array_module(dfdx)
    if "m" not in state:
        state["m"] = xp.full_like(dfdx, mfill)
        state["tmp"] = xp.zeros_like(dfdx)
    m = state["m"]
    m *= alpha
    m += (1 - alpha) * dfdx * dfdx
    state["tmp"] = xp.sqrt(m) + epsilon
    x -= lr * dfdx / state["tmp"]
    return x, [fx]


def adam(opfunc, x, config=None, state=None):
    """Adam: learningRate=1e-3, learningRateDecay=0, beta1=0.9, beta2=0.999, epsilon=1e-8."""
    config, state = _setup(config, state)
    lr = config.get("learningRate", 0.001)
    lrd = config.get("learningRateDecay", 0)
    beta1 = config.get("beta1", 0.9)
    beta2 = config.get("beta2", 0.999)
    epsilon = config.get("epsilon", 1e-8)
    wd = config.get("weightDecay", 0)
    fx, dfdx = opfunc(x)
    if wd != 0:
        dfdx += wd * x
    xp = get_array_module(dfdx)
    state["t"] = state.get("t", 0)
    if "m" not in state:
        state["m"] = xp.zeros_like(dfdx)
        state["v"] = xp.zeros_like(dfdx)
        state["denom"] = xp.zeros_like(dfdx)
    clr = lr / (1 + state["t"] * lrd)
    state["t"] += 1
    t = state["t"]
    m, v = state["m"], state["v"]
    m *= beta1
    m += (1 - beta1) * dfdx
    v *= beta2
    v += (1 - beta2) * dfdx * dfdx
    state["denom"] = xp.sqrt(v) + epsilon
    step = clr * (1 - beta2**t) ** 0.5 / (1 - beta1**t)
    x -= step * m / state["denom"]
    return x, [fx]
