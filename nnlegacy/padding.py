"""Reflection and replication padding of the last two or three axes (negative pads crop)."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .module import Module, _size_desc

__all__ = [
    "SpatialReflectionPadding",
    "SpatialReplicationPadding",
    "VolumetricReplicationPadding",
]


def reflect_index(size: int, before: int, after: int) -> np.ndarray:
    """For each output position of an axis padded by reflection (edge not repeated),
    the input position it copies."""
    x = np.arange(size + before + after) - before
    x = np.where(x < 0, -x, x)
    return np.where(x > size - 1, 2 * (size - 1) - x, x)


def replicate_index(size: int, before: int, after: int) -> np.ndarray:
    """For each output position of an axis padded by replicating the edge, its source."""
    return np.clip(np.arange(size + before + after) - before, 0, size - 1)


def gather_axes(x, maps):
    """x with each of its trailing axes re-indexed by its map (one take per axis)."""
    xp = B.get_array_module(x)
    out = x
    for axis, m in zip(range(-len(maps), 0), maps):
        out = xp.take(out, xp.asarray(m), axis=axis)
    return out


def scatter_axes(g, maps, sizes):
    """The adjoint of gather_axes: each value summed into the position it came from
    (a 0/1 matrix product per axis)."""
    xp = B.get_array_module(g)
    out = g
    for axis, m, size in zip(range(-len(maps), 0), maps, sizes):
        onehot = xp.asarray(m[:, None] == np.arange(size)[None, :], dtype=g.dtype)
        out = xp.moveaxis(xp.moveaxis(out, axis, -1) @ onehot, -1, axis)
    return xp.ascontiguousarray(out)


class _Padding(Module):
    """Shared: checks, forward as index maps, backward as their adjoint."""

    _INDEX = staticmethod(replicate_index)
    _RANK = 2

    def _pads(self):
        """((before, after) per padded axis), in input-axis order."""
        raise NotImplementedError

    def _maps(self, input):
        self._check_input(input)
        r = self._RANK
        if input.ndim not in (r + 1, r + 2):
            raise ValueError(f"input must be {r + 1} or {r + 2}-dimensional")
        sizes = input.shape[-r:]
        outs = [s + a + b for s, (a, b) in zip(sizes, self._pads())]
        if min(outs) < 1:
            raise ValueError(
                f"{self._name()}: input {_size_desc(input.shape)} is too small. "
                f"Calculated output size: {'x'.join(str(o) for o in outs)}"
            )
        self._check_sizes(input, sizes)
        return [self._INDEX(s, a, b) for s, (a, b) in zip(sizes, self._pads())]

    def _check_sizes(self, input, sizes):
        pass

    def updateOutput(self, input):
        maps = self._maps(input)
        self.output = gather_axes(input, maps)
        return self.output

    def updateGradInput(self, input, gradOutput):
        maps = self._maps(input)
        self._check_grad(gradOutput, input.shape[: -self._RANK] + tuple(len(m) for m in maps))
        self.gradInput = scatter_axes(gradOutput, maps, input.shape[-self._RANK :])
        return self.gradInput


class _SpatialPadding(_Padding):
    def __init__(self, pad_l: int, pad_r: int | None = None, pad_t=None, pad_b=None):
        super().__init__()
        self.pad_l = pad_l
        self.pad_r = pad_l if pad_r is None else int(pad_r)
        self.pad_t = pad_l if pad_t is None else int(pad_t)
        self.pad_b = pad_l if pad_b is None else int(pad_b)

    def _pads(self):
        return ((self.pad_t, self.pad_b), (self.pad_l, self.pad_r))

    def __tostring__(self):
        return f"{self._name()}(l={self.pad_l}, r={self.pad_r}, t={self.pad_t}, b={self.pad_b})"


class SpatialReflectionPadding(_SpatialPadding):
    """Pads H x W by mirroring the input at its borders (the edge itself not repeated).

    ``nn.SpatialReflectionPadding(pad_l, pad_r=pad_l, pad_t=pad_l, pad_b=pad_l)``;
    each pad must be smaller than the axis it pads.
    Shape: ``(.., C, H, W)`` -> ``(.., C, H + pad_t + pad_b, W + pad_l + pad_r)``.
    """

    _INDEX = staticmethod(reflect_index)

    def _check_sizes(self, input, sizes):
        for dim, size, (a, b) in zip((len(input.shape) - 1, len(input.shape)), sizes, self._pads()):
            if a >= size or b >= size:
                raise ValueError(
                    "Padding size should be less than the corresponding input dimension, "
                    f"but got: padding ({a}, {b}) at dimension {dim} of input "
                    f"{_size_desc(input.shape)}"
                )


class SpatialReplicationPadding(_SpatialPadding):
    """Pads H x W by repeating the border rows and columns.

    ``nn.SpatialReplicationPadding(pad_l, pad_r=pad_l, pad_t=pad_l, pad_b=pad_l)``.
    Shape: ``(.., C, H, W)`` -> ``(.., C, H + pad_t + pad_b, W + pad_l + pad_r)``.
    """


class VolumetricReplicationPadding(_Padding):
    """Pads T x H x W by repeating the border.

    ``nn.VolumetricReplicationPadding(pleft, pright=pleft, ptop=pleft, pbottom=pleft,
    pfront=pleft, pback=pleft)``. Shape: ``(.., C, T, H, W)`` ->
    ``(.., C, T + pfront + pback, H + ptop + pbottom, W + pleft + pright)``.
    """

    _RANK = 3

    def __init__(
        self,
        pleft: int,
        pright: int | None = None,
        ptop: int | None = None,
        pbottom: int | None = None,
        pfront: int | None = None,
        pback: int | None = None,
    ):
        super().__init__()
        self.pleft = pleft
        self.pright = pleft if pright is None else pright
        self.ptop = pleft if ptop is None else ptop
        self.pbottom = pleft if pbottom is None else pbottom
        self.pfront = pleft if pfront is None else pfront
        self.pback = pleft if pback is None else pback

    def _pads(self):
        return ((self.pfront, self.pback), (self.ptop, self.pbottom), (self.pleft, self.pright))

    def __tostring__(self):
        return (
            f"{self._name()}(left={self.pleft}, right={self.pright}, top={self.ptop}, "
            f"bottom={self.pbottom}, front={self.pfront}, back={self.pback})"
        )
