"""Pooling over windows that vary: fractional and adaptive max/average pooling."""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import backend as B
from .module import Module, _size_desc

__all__ = [
    "SpatialAdaptiveAveragePooling",
    "SpatialAdaptiveMaxPooling",
    "SpatialFractionalMaxPooling",
    "VolumetricFractionalMaxPooling",
]


def _scatter_add(xp, size, flat_index, values):
    """A flat array of ``size`` with ``values`` summed at ``flat_index`` (repeats add)."""
    out = xp.bincount(flat_index.ravel(), weights=values.ravel(), minlength=size)
    return out.astype(values.dtype, copy=False)


def _max_over(xp, candidates):
    """(max, flat position) over the (values, positions) pairs in order; the first
    maximum wins, as THNN's strict ``>`` scan."""
    best, pos = None, None
    for vals, where in candidates:
        if best is None:
            best, pos = vals.copy(), where.copy()
            continue
        better = vals > best
        best = xp.where(better, vals, best)
        pos = xp.where(better, where, pos)
    return best, pos


# --- fractional max pooling --------------------------------------------------------------
def _fractional_starts(xp, u, isize, osize, pool):
    """THNN's pseudo-random window starts for each sample ``u`` (in u's precision):
    ``int((i + u) * alpha) - int(u * alpha)``, the last window flush with the end."""
    dt = u.dtype.type
    seq = xp.empty((u.shape[0], osize), np.int64)
    if osize > 1:
        alpha = dt(isize - pool) / dt(osize - 1)
        i = xp.arange(osize - 1, dtype=u.dtype)[None, :]
        seq[:, :-1] = ((i + u[:, None]) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)[
            :, None
        ]
    seq[:, -1] = isize - pool
    return seq


class _FractionalMaxPooling(Module):
    """Shared by the spatial and volumetric fractional max pooling."""

    _AXES = ()  # Lua's axis letters, in input-dimension order
    _SAMPLE = ()  # which random sample drives each of those axes

    def _init(self, pools, outs):
        self.indices = self._xp.empty(0, "int64")
        self.randomSamples = None
        self.newRandomPool = False
        for a, p in zip(self._AXES, pools):
            if p < 2:
                raise ValueError(f"poolSize{a} must be at least 2, got {p}")
            setattr(self, "poolSize" + a, p)
        if all(o >= 1 for o in outs):
            for a, o in zip(self._AXES, outs):
                setattr(self, "out" + a, int(o))
        else:
            for a, r in zip(self._AXES, outs):
                if not 0 < r < 1:
                    raise ValueError(f"ratio{a} must be between 0 and 1 (exclusive), got {r}")
                setattr(self, "ratio" + a, r)

    def fixPoolingRegions(self, val=True):
        self.newRandomPool = val
        return self

    def _out_sizes(self, input):
        nd = len(self._AXES)
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(
                f"{self._name()}: input must be dim {nd + 1} or {nd + 2}, "
                f"got {_size_desc(input.shape)}"
            )
        sizes = input.shape[-nd:]
        if getattr(self, "ratio" + self._AXES[0], None) is not None:
            outs = [math.floor(s * getattr(self, "ratio" + a)) for s, a in zip(sizes, self._AXES)]
            if min(outs) < 1:
                raise ValueError("reduction ratio or input size too small")
        else:
            outs = [getattr(self, "out" + a) for a in self._AXES]
        for a, s, o in zip(self._AXES, sizes, outs):
            p = getattr(self, "poolSize" + a)
            if o + p - 1 > s:
                raise ValueError(f"poolSize{a} ({p}) too large relative to input size ({s})")
        return sizes, outs

    def _samples(self, input, shape):
        fixed = getattr(self, "_fixed_noise", None)
        if fixed is not None:
            return fixed
        rs = self.randomSamples
        if rs is None or tuple(rs.shape) != shape or not self.newRandomPool:
            xp = B.get_array_module(input)
            rs = xp.empty(shape, input.dtype)
            B.uniform_(rs)
        return rs

    def updateOutput(self, input):
        self._check_input(input)
        nd = len(self._AXES)
        sizes, outs = self._out_sizes(input)
        x = input if input.ndim == nd + 2 else input[None]
        n, c = x.shape[:2]
        samples = self._samples(input, (n, c, nd))
        xp = B.get_array_module(x)
        u = xp.asarray(samples, dtype=x.dtype).reshape(n * c, nd)
        starts = []
        for axis, (s, o, a) in enumerate(zip(sizes, outs, self._AXES)):
            seq = _fractional_starts(
                xp, u[:, self._SAMPLE[axis]], s, o, getattr(self, "poolSize" + a)
            )
            shape = [n * c] + [1] * nd
            shape[axis + 1] = o
            starts.append(seq.reshape(shape))
        strides = [math.prod(sizes[i + 1 :]) for i in range(nd)]
        flat = x.reshape(n * c, -1)
        pools = [getattr(self, "poolSize" + a) for a in self._AXES]

        def candidates():
            for offset in itertools.product(*(range(p) for p in pools)):
                where = sum((st + j) * k for st, j, k in zip(starts, offset, strides))
                where = xp.broadcast_to(where, (n * c, *outs)).reshape(n * c, -1)
                yield xp.take_along_axis(flat, where, axis=1), where

        best, pos = _max_over(xp, candidates())
        self.randomSamples = samples
        out_shape = input.shape[:-nd] + tuple(outs)
        self.output = best.reshape(out_shape)
        self.indices = (pos + 1).reshape(out_shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        if self.randomSamples is None:
            raise RuntimeError("must call updateOutput/forward first")
        self._check_grad(gradOutput, self.indices.shape)
        nd = len(self._AXES)
        xp = B.get_array_module(input)
        plane = math.prod(input.shape[-nd:])
        rows = gradOutput.size // math.prod(gradOutput.shape[-nd:])
        where = (self.indices - 1).reshape(rows, -1) + (xp.arange(rows) * plane)[:, None]
        gi = _scatter_add(xp, rows * plane, where, gradOutput.reshape(rows, -1))
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("indices")
        self.randomSamples = None
        return super().clearState()

    def __tostring__(self):
        outs = [getattr(self, "out" + a, None) for a in self._AXES]
        if None in outs:
            outs = [getattr(self, "ratio" + a) for a in self._AXES]
        printed = "x".join(str(int(o)) for o in self._print_order(outs))
        pools = ",".join(str(getattr(self, "poolSize" + a)) for a in self._print_order(self._AXES))
        return f"{self._name()}({printed}, {pools})"


class SpatialFractionalMaxPooling(_FractionalMaxPooling):
    """Max pooling over pseudo-random overlapping windows (Graham's fractional pooling).

    ``nn.SpatialFractionalMaxPooling(poolSizeW, poolSizeH, outW, outH)`` or
    ``(poolSizeW, poolSizeH, ratioW, ratioH)`` with ratios in (0, 1).
    ``randomSamples`` (N x C x 2, U[0,1): W then H) fixes the windows; it is drawn
    anew at each forward unless ``:fixPoolingRegions()``; ``_fixed_noise``
    overrides it. Shape: ``(.., C, H, W)`` -> ``(.., C, outH, outW)``.
    """

    _AXES = ("H", "W")
    _SAMPLE = (1, 0)

    def __init__(self, poolSizeW: int, poolSizeH: int, arg1, arg2):
        super().__init__()
        self._init((poolSizeH, poolSizeW), (arg2, arg1))

    @staticmethod
    def _print_order(v):
        return (v[1], v[0])


class VolumetricFractionalMaxPooling(_FractionalMaxPooling):
    """Fractional max pooling in three dimensions.

    ``nn.VolumetricFractionalMaxPooling(poolSizeT, poolSizeW, poolSizeH, outT, outW,
    outH)`` or with ratios in (0, 1). As in Lua, time is the *last* input axis:
    Shape: ``(.., C, H, W, T)`` -> ``(.., C, outH, outW, outT)``; ``randomSamples``
    is N x C x 3 (T, W, H).
    """

    _AXES = ("H", "W", "T")
    _SAMPLE = (2, 1, 0)

    def __init__(self, poolSizeT: int, poolSizeW: int, poolSizeH: int, arg1, arg2, arg3):
        super().__init__()
        self._init((poolSizeH, poolSizeW, poolSizeT), (arg3, arg2, arg1))

    @staticmethod
    def _print_order(v):
        return (v[2], v[1], v[0])


# --- adaptive pooling --------------------------------------------------------------------
def _adaptive_windows(isize, osize):
    """THNN's window [start, end) of each output position, computed in float32."""
    i = np.arange(osize, dtype=np.float32)
    start = np.floor(i / np.float32(osize) * np.float32(isize)).astype(np.int64)
    end = np.ceil((i + 1) / np.float32(osize) * np.float32(isize)).astype(np.int64)
    return start, end


class _AdaptivePooling(Module):
    def __init__(self, W: int, H: int):
        super().__init__()
        self.W, self.H = W, H

    def _windows(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError(
                "3D or 4D (batch mode) tensor expected for input, but got: "
                f"{_size_desc(input.shape)}"
            )
        h, w = input.shape[-2:]
        return _adaptive_windows(h, self.H), _adaptive_windows(w, self.W)

    def _taps(self, xp, input, wins):
        """For every (row, col) offset inside the largest window: the flat positions
        (clipped) and a mask of the windows that reach that far."""
        (hs, he), (ws, we) = wins
        w = input.shape[-1]
        for jh in range(int((he - hs).max())):
            for jw in range(int((we - ws).max())):
                rows, cols = hs + jh, ws + jw
                valid = (rows < he)[:, None] & (cols < we)[None, :]
                where = np.minimum(rows, he - 1)[:, None] * w + np.minimum(cols, we - 1)[None, :]
                yield jh, jw, xp.asarray(where), xp.asarray(valid)


class SpatialAdaptiveMaxPooling(_AdaptivePooling):
    """Max pooling to a fixed ``H x W`` output, whatever the input size.

    ``nn.SpatialAdaptiveMaxPooling(W, H)``. Window i covers rows
    ``floor(i*iH/H) .. ceil((i+1)*iH/H) - 1``. ``indices`` (2 x .. x H x W) holds the
    1-based row and column of each maximum inside its window, as THNN's.
    Shape: ``(.., C, iH, iW)`` -> ``(.., C, H, W)``.
    """

    def __init__(self, W: int, H: int):
        super().__init__(W, H)
        self.indices = self._xp.empty(0, "int64")

    def updateOutput(self, input):
        wins = self._windows(input)
        xp = B.get_array_module(input)
        flat = input.reshape(-1, input.shape[-2] * input.shape[-1])

        def candidates():
            for jh, jw, where, valid in self._taps(xp, input, wins):
                vals = xp.where(valid, flat[:, where], -np.inf)
                yield vals, xp.broadcast_to(xp.asarray(jh * 65536 + jw), vals.shape)

        best, code = _max_over(xp, candidates())
        self.output = best.reshape(input.shape[:-2] + (self.H, self.W))
        iy, ix = code // 65536 + 1, code % 65536 + 1
        self.indices = xp.stack([iy, ix]).reshape((2,) + self.output.shape).astype(np.int64)
        return self.output

    def updateGradInput(self, input, gradOutput):
        (hs, _), (ws, _) = self._windows(input)
        self._check_grad(gradOutput, input.shape[:-2] + (self.H, self.W))
        if tuple(self.indices.shape[1:]) != tuple(gradOutput.shape):
            raise RuntimeError(f"{self._name()}: call forward before backward")
        xp = B.get_array_module(input)
        h, w = input.shape[-2:]
        rows = xp.asarray(hs)[:, None] + self.indices[0] - 1
        cols = xp.asarray(ws)[None, :] + self.indices[1] - 1
        n = gradOutput.size // (self.H * self.W)
        where = (rows * w + cols).reshape(n, -1) + (xp.arange(n) * (h * w))[:, None]
        gi = _scatter_add(xp, n * h * w, where, gradOutput.reshape(n, -1))
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("indices")
        return super().clearState()


class SpatialAdaptiveAveragePooling(_AdaptivePooling):
    """Average pooling to a fixed ``H x W`` output, whatever the input size.

    ``nn.SpatialAdaptiveAveragePooling(W, H)``; windows as SpatialAdaptiveMaxPooling's,
    each divided by its own width and height. Shape: ``(.., C, iH, iW)`` -> ``(.., C, H, W)``.
    """

    def updateOutput(self, input):
        wins = self._windows(input)
        (hs, he), (ws, we) = wins
        xp = B.get_array_module(input)
        flat = input.reshape(-1, input.shape[-2] * input.shape[-1])
        out = None
        for _, _, where, valid in self._taps(xp, input, wins):  # THNN's summation order
            vals = xp.where(valid, flat[:, where], 0)
            out = vals if out is None else out + vals
        kh = xp.asarray((he - hs).astype(input.dtype))[:, None]
        kw = xp.asarray((we - ws).astype(input.dtype))[None, :]
        self.output = (out / kw / kh).reshape(input.shape[:-2] + (self.H, self.W))
        return self.output

    def updateGradInput(self, input, gradOutput):
        wins = self._windows(input)
        (hs, he), (ws, we) = wins
        self._check_grad(gradOutput, input.shape[:-2] + (self.H, self.W))
        xp = B.get_array_module(input)
        h, w = input.shape[-2:]
        n = gradOutput.size // (self.H * self.W)
        kh = xp.asarray((he - hs).astype(input.dtype))[:, None]
        kw = xp.asarray((we - ws).astype(input.dtype))[None, :]
        share = (gradOutput / kw / kh).reshape(n, -1)
        base = (xp.arange(n) * (h * w))[:, None]
        gi = xp.zeros(n * h * w, input.dtype)
        for _, _, where, valid in self._taps(xp, input, wins):
            vals = xp.where(valid.ravel()[None, :], share, 0)
            gi += _scatter_add(xp, n * h * w, where.ravel()[None, :] + base, vals)
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput
