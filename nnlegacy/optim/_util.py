"""Helpers shared by the optim algorithms: Lua's ``state = state or config`` and
Lua number semantics (division by zero and square roots of negatives give inf/nan
rather than raising)."""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module


def _setup(config, state):
    config = {} if config is None else config
    state = config if state is None else state
    return config, state


class Returns(tuple):
    """The values a Lua function returns that scripts assign (a tuple), plus the
    further values Lua also returns, kept as attributes (DESIGN.md rule 7)."""

    def __new__(cls, values, **extra):
        self = super().__new__(cls, values)
        self.__dict__.update(extra)
        return self


def _div(a: float, b: float) -> float:
    """``a / b`` with IEEE semantics, as Lua computes it."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0 else math.nan


def _fma_ok(*arrays) -> bool:
    return all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in arrays)


def _axpy(y, a: float, x) -> None:
    """``y += a * x`` in place, rounded once per element.

    Lua's in-place ``y:add(a, x)`` is BLAS ``axpy``, which OpenBLAS computes with
    fused multiply-adds; the extended-precision sum reproduces that rounding for
    float64 on the CPU (other arrays take the plain two-rounding path).
    """
    if _fma_ok(y, x) and _EXTENDED:
        y[...] = (y.astype(np.longdouble) + np.longdouble(a) * x.astype(np.longdouble)).astype(
            np.float64
        )
    else:
        y += a * x


def _dot(a, b) -> float:
    """``a:dot(b)``: BLAS ``dot``; short float64 vectors accumulate with one rounding
    per step, as OpenBLAS's fused kernel does."""
    if a.size < 16 and _fma_ok(a, b) and _EXTENDED:
        acc = 0.0
        for u, v in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist()):
            acc = float(np.longdouble(u) * np.longdouble(v) + np.longdouble(acc))
        return acc
    return float((a * b).sum())


_EXTENDED = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


_SCALED_ADD_BLOCK = 1 << 18  # elements per block: a cache-sized temporary


def _scaled_add(y, a, x):
    """``y += a * x`` in place, as NumPy's ``y += a * x`` computes it (the same two
    roundings), but through a cache-sized temporary: the whole-array temporary of a big
    net's flat parameters (553 MB for VGG-16) costs a page fault per 4 KiB at every step
    and raises the peak memory by its size. (Lua's own ``add`` rounding is ``_axpy``.)"""
    if (
        get_array_module(y) is not np
        or y.size <= _SCALED_ADD_BLOCK
        or not (y.flags.c_contiguous and x.flags.c_contiguous and y.shape == x.shape)
    ):
        y += a * x
        return y
    yf, xf = y.reshape(-1), x.reshape(-1)
    tmp = np.empty(_SCALED_ADD_BLOCK, np.result_type(x, a))
    for i in range(0, yf.size, _SCALED_ADD_BLOCK):  # blocks of the flat parameters
        t = tmp[: min(_SCALED_ADD_BLOCK, yf.size - i)]
        np.multiply(xf[i : i + t.size], a, out=t)
        yf[i : i + t.size] += t
    return y
