"""Test helpers of Lua's optim: ``checkgrad`` and the Rosenbrock objective."""

from __future__ import annotations

from ..backend import get_array_module


def checkgrad(opfunc, x, eps: float = 1e-7):
    """Central-difference gradient check: ``diff, dC, dC_est = checkgrad(opfunc, x, eps)``.

    ``diff = |dC - dC_est| / |dC + dC_est|`` (2-norms); ``x`` (1-D) is perturbed in
    place one entry at a time and restored.
    """
    _, dc = opfunc(x)
    dc = dc.reshape(x.shape)
    xp = get_array_module(dc)
    dc_est = xp.empty_like(dc)
    for i in range(dc.shape[0]):
        x[i] = x[i] + eps
        c1 = opfunc(x)[0]
        x[i] = x[i] - 2 * eps
        c2 = opfunc(x)[0]
        x[i] = x[i] + eps
        dc_est[i] = (c1 - c2) / (2 * eps)
    diff = float(xp.linalg.norm(dc - dc_est) / xp.linalg.norm(dc + dc_est))
    return diff, dc, dc_est


def rosenbrock(x):
    """``f, df = rosenbrock(x)``: ``f = sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2``.

    The objective of ``optim/test/rosenbrock.lua``, any dimension >= 2; minimum 0 at
    all ones. The gradient is computed in the order Lua's test computes it.
    """
    a, b = x[:-1], x[1:]
    r = b - a * a
    o = -a + 1
    f = float((r * r * 100 + o * o).sum())
    df = get_array_module(x).zeros_like(x)
    df[:-1] = a * r * -400 + o * -2
    df[1:] += r * 200
    return f, df


__all__ = ["checkgrad", "rosenbrock"]
