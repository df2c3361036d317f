"""Per-parameter adaptive rates of Lua's optim: adagrad, adadelta, rmsprop, adam,
adamax and rprop. Same calling convention as :mod:`nnlegacy.optim.sgd`.
"""

from __future__ import annotations

from ..backend import get_array_module
from ._util import _setup


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
    state["paramStd"] += 1e-10  # Lua adds it in place, so the stored std carries it
    x -= clr * dfdx / state["paramStd"]
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


def adamax(opfunc, x, config=None, state=None):
    """AdaMax: learningRate=2e-3, beta1=0.9, beta2=0.999, epsilon=1e-38, weightDecay=0.

    ``u = max(beta2*u, |g| + epsilon)``; ``x -= lr / (1 - beta1^t) * m / u``.
    """
    config, state = _setup(config, state)
    lr = config.get("learningRate", 0.002)
    beta1 = config.get("beta1", 0.9)
    beta2 = config.get("beta2", 0.999)
    epsilon = config.get("epsilon", 1e-38)
    wd = config.get("weightDecay", 0)
    fx, dfdx = opfunc(x)
    if wd != 0:
        dfdx += wd * x
    xp = get_array_module(dfdx)
    state["t"] = state.get("t", 0)
    if "m" not in state:
        state["m"] = xp.zeros_like(dfdx)
    if "u" not in state:
        state["u"] = xp.zeros_like(dfdx)
    if "max" not in state:
        state["max"] = xp.zeros((2, *dfdx.shape), dfdx.dtype)
    state["t"] += 1
    m, u, mx = state["m"], state["u"], state["max"]
    m *= beta1
    m += (1 - beta1) * dfdx
    mx[0] = u
    mx[0] *= beta2
    mx[1] = xp.abs(dfdx)
    mx[1] += epsilon
    # Lua's u:max(buf, 1) leaves u with a leading dimension of 1
    state["u"] = u = mx.max(axis=0, keepdims=True)
    step = lr / (1 - beta1 ** state["t"])
    x += (-step * m) / u.reshape(m.shape)
    return x, [fx]


def rprop(opfunc, x, config=None, state=None):
    """RPROP: ``x, fs = rprop(opfunc, x, config, state)`` with one f per evaluation.

    stepsize=0.1, etaplus=1.2, etaminus=0.5, stepsizemax=50, stepsizemin=1e-6,
    niter=1. Where the gradient changed sign, that entry of ``df/dx`` is zeroed in
    place, as Lua does.
    """
    if config is None and state is None:
        print("no state table RPROP initializing")
    config, state = _setup(config, state)
    stepsize = config.get("stepsize", 0.1)
    etaplus = config.get("etaplus", 1.2)
    etaminus = config.get("etaminus", 0.5)
    smax = config.get("stepsizemax", 50.0)
    smin = config.get("stepsizemin", 1e-06)
    niter = config.get("niter", 1)
    hfx = []
    for _ in range(niter):
        fx, dfdx = opfunc(x)
        xp = get_array_module(dfdx)
        if "delta" not in state:
            state["delta"] = xp.zeros_like(dfdx)
            state["stepsize"] = xp.full_like(dfdx, stepsize)
        sign = xp.sign(dfdx * state["delta"])
        psign, nsign, zsign = sign > 0, sign < 0, sign == 0
        sign[psign] = etaplus
        sign[nsign] = etaminus
        sign[zsign] = 1
        steps = state["stepsize"]
        steps *= sign
        steps[steps > smax] = smax
        dminmax = steps < smin
        steps[dminmax] = smin
        dfdx[nsign] = 0
        sign = xp.sign(dfdx)
        x += -sign * steps
        state["delta"][...] = dfdx
        for k, v in (("sign", sign), ("psign", psign), ("nsign", nsign), ("zsign", zsign)):
            state[k] = v if v.dtype.kind == "f" else v.astype(xp.uint8)
        state["dminmax"] = dminmax.astype(xp.uint8)
        hfx.append(fx)
    return x, hfx
