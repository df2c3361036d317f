"""SGD family of Lua's optim: sgd, nag (Nesterov), asgd (averaged SGD).

Every method is ``x, fx = method(opfunc, x, config=None, state=None)``:
``opfunc(x)`` returns ``(f, df/dx)``; ``x`` is updated in place and returned with
``fx = [f]`` (f before the update). Without ``state`` the state is kept in
``config``, as Lua's ``local state = state or config``. Weight decay is added to
the gradient array in place, as Lua does.
"""

from __future__ import annotations

import numpy as np

from .. import threads
from ..backend import get_array_module
from ._util import _SCALED_ADD_BLOCK, _axpy, _scaled_add, _setup


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
    clr = lr / (1 + n * lrd)
    if lrs is None and wds is None and _by_runs(x, dfdx, state.get("dfdx") if mom else None):
        first = mom != 0 and "dfdx" not in state
        if first:
            state["dfdx"] = np.empty_like(dfdx)
        buf = state["dfdx"] if mom != 0 else None
        _sgd_by_runs(x, dfdx, buf, first, (wd, mom, damp, nesterov, clr))
        state["evalCounter"] += 1
        return x, [fx]
    if wd != 0:
        _scaled_add(dfdx, wd, x)
    elif wds is not None:
        state["decayParameters"] = wds * x
        dfdx += state["decayParameters"]
    if mom != 0:
        if "dfdx" not in state:
            state["dfdx"] = dfdx.copy()
        else:
            buf = state["dfdx"]
            buf *= mom
            _scaled_add(buf, 1 - damp, dfdx)
        if nesterov:
            _scaled_add(dfdx, mom, state["dfdx"])
        else:
            dfdx = state["dfdx"]
    if lrs is not None:
        state["deltaParameters"] = lrs * dfdx
        x -= clr * state["deltaParameters"]
    else:
        _scaled_add(x, -clr, dfdx)
    state["evalCounter"] += 1
    return x, [fx]


def _by_runs(x, dfdx, buf=None) -> bool:
    """A big NumPy parameter vector, its gradient (and momentum buffer), contiguous and
    alike."""
    if buf is not None and not _by_runs(x, buf):
        return False
    return (
        get_array_module(x) is np
        and x.size > _SCALED_ADD_BLOCK
        and isinstance(dfdx, np.ndarray)
        and x.shape == dfdx.shape
        and x.dtype == dfdx.dtype
        and x.flags.c_contiguous
        and dfdx.flags.c_contiguous
    )


def _sgd_by_runs(x, dfdx, buf, first, settings):
    """sgd's update run by run of the flat parameters, on the shared threads: each run goes
    through every step while in cache, so memory is read once where the whole-array
    sequence makes five passes (AlexNet's 62M parameters: 92 ms a step on one thread).
    The same operations on the same values: the same bits (weight decay added to the
    gradient, the momentum buffer, its first copy, Nesterov's look-ahead)."""
    wd, mom, damp, nesterov, clr = settings
    xf, gf = x.reshape(-1), dfdx.reshape(-1)
    bf = None if buf is None else buf.reshape(-1)

    def run(i, j):
        tmp = np.empty(j - i, x.dtype)

        def add(y, a, v):  # y += a * v, as NumPy rounds it
            y += np.multiply(v, a, out=tmp)

        g = gf[i:j]
        if wd != 0:
            add(g, wd, xf[i:j])
        d = g
        if bf is not None:
            b = bf[i:j]
            if first:
                b[...] = g
            else:
                b *= mom
                add(b, 1 - damp, g)
            if nesterov:
                add(g, mom, b)
            else:
                d = b
        add(xf[i:j], -clr, d)

    threads.over_runs(run, xf.size, xf.itemsize)


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


def asgd(opfunc, x, config=None, state=None):
    """Averaged SGD (Bottou's sgd-2.0): ``x, fx, ax = asgd(opfunc, x, config, state)``.

    eta0=1e-4, lambda=1e-4, alpha=0.75, t0=1e6; these defaults are written into
    ``config`` as Lua does. ``eta_t = eta0 / (1 + lambda*eta0*t)^alpha``, averaging
    ``ax`` starts after ``t0`` steps (``mu_t = 1/max(1, t - t0)``).
    """
    config, state = _setup(config, state)
    config["eta0"] = config.get("eta0", 1e-4)
    config["lambda"] = config.get("lambda", 1e-4)
    config["alpha"] = config.get("alpha", 0.75)
    config["t0"] = config.get("t0", 1e6)
    state["eta_t"] = state.get("eta_t", config["eta0"])
    state["mu_t"] = state.get("mu_t", 1)
    state["t"] = state.get("t", 0)
    fx, dfdx = opfunc(x)
    x *= 1 - config["lambda"] * state["eta_t"]
    _axpy(x, -state["eta_t"], dfdx)
    xp = get_array_module(x)
    if "ax" not in state:
        state["ax"] = xp.zeros_like(x)
        state["tmp"] = xp.empty_like(x)
    if state["mu_t"] != 1:
        tmp = state["tmp"]
        tmp[...] = x
        tmp -= state["ax"]
        tmp *= state["mu_t"]
        state["ax"] += tmp
    else:
        state["ax"][...] = x
    state["t"] += 1
    eta0, lam = config["eta0"], config["lambda"]
    state["eta_t"] = eta0 / (1 + lam * eta0 * state["t"]) ** config["alpha"]
    state["mu_t"] = 1 / max(1, state["t"] - config["t0"])
    return x, [fx], state["ax"]
