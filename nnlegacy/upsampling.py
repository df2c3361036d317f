"""Nearest and (bi/tri)linear upsampling of the last two or three axes."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .module import Module

__all__ = ["SpatialUpSamplingBilinear", "SpatialUpSamplingNearest", "UpSampling"]


def _check_scale(scale):
    if scale < 1:
        raise ValueError("scale_factor must be greater than 1")
    if int(scale) != scale:
        raise ValueError("scale_factor must be integer")
    return int(scale)


def nearest_up(x, scale: int, rank: int):
    """Each of the trailing ``rank`` axes repeated ``scale`` times per element."""
    xp = B.get_array_module(x)
    for axis in range(-rank, 0):
        x = xp.repeat(x, scale, axis=axis)
    return x


def nearest_down(g, scale: int, rank: int):
    """The adjoint of nearest_up: each block of scale^rank values summed."""
    shape = list(g.shape[:-rank])
    for s in g.shape[-rank:]:
        shape += [s // scale, scale]
    axes = tuple(range(len(shape) - 2 * rank + 1, len(shape), 2))
    return g.reshape(shape).sum(axis=axes)


def linear_weights(isize: int, osize: int, dtype):
    """THNN's align-corners interpolation along one axis: for each output position the
    two source positions and their weights (the ratio and position in float32, as THNN)."""
    r = np.float32(isize - 1) / np.float32(osize - 1) if osize > 1 else np.float32(0)
    pos = r * np.arange(osize, dtype=np.float32)
    i0 = pos.astype(np.int64)
    i1 = i0 + (i0 < isize - 1)
    l1 = (pos - i0.astype(np.float32)).astype(dtype)
    return i0, i1, (1 - l1).astype(dtype), l1


def _along(xp, a, axis, v):
    """v (one value per position of ``axis``) shaped to broadcast against a."""
    shape = [1] * a.ndim
    shape[axis] = v.shape[0]
    return xp.asarray(v).reshape(shape)


def linear_up(x, out_sizes):
    """Bi/trilinear interpolation of the trailing axes to ``out_sizes``: the last axis
    first, as THNN nests its weights, so the products and sums are THNN's."""
    xp = B.get_array_module(x)
    rank = len(out_sizes)
    for axis in range(x.ndim - 1, x.ndim - rank - 1, -1):
        i0, i1, l0, l1 = linear_weights(x.shape[axis], out_sizes[axis - x.ndim], x.dtype)
        a0 = xp.take(x, xp.asarray(i0), axis=axis)
        a1 = xp.take(x, xp.asarray(i1), axis=axis)
        x = _along(xp, a0, axis, l0) * a0 + _along(xp, a1, axis, l1) * a1
    return x


def linear_down(g, in_sizes):
    """The adjoint of linear_up (a weight-matrix product per axis)."""
    xp = B.get_array_module(g)
    rank = len(in_sizes)
    for axis in range(g.ndim - rank, g.ndim):
        isize = in_sizes[axis - g.ndim]
        i0, i1, l0, l1 = linear_weights(isize, g.shape[axis], g.dtype)
        w = np.zeros((g.shape[axis], isize), g.dtype)
        np.add.at(w, (np.arange(len(i0)), i0), l0)
        np.add.at(w, (np.arange(len(i1)), i1), l1)
        g = xp.moveaxis(xp.moveaxis(g, axis, -1) @ xp.asarray(w), -1, axis)
    return xp.ascontiguousarray(g)


class SpatialUpSamplingNearest(Module):
    """Repeats each pixel ``scale x scale`` times.

    ``nn.SpatialUpSamplingNearest(scale)`` (an integer >= 1).
    Shape: ``(.., C, H, W)`` -> ``(.., C, H*scale, W*scale)``.
    """

    def __init__(self, scale):
        super().__init__()
        self.scale_factor = _check_scale(scale)
        self.inputSize = np.zeros(4, np.int64)
        self.outputSize = np.zeros(4, np.int64)

    def _check(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError("SpatialUpSamplingNearest only support 3D or 4D tensors")

    def updateOutput(self, input):
        self._check(input)
        s = self.scale_factor
        self.output = nearest_up(input, s, 2)
        self.inputSize[: input.ndim] = input.shape
        self.outputSize[: input.ndim] = self.output.shape
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        s = self.scale_factor
        self._check_grad(gradOutput, input.shape[:-2] + (input.shape[-2] * s, input.shape[-1] * s))
        self.gradInput = nearest_down(gradOutput, s, 2)
        return self.gradInput


def _size_params(params):
    """Lua's table ``{oheight=, owidth=[, odepth=]}`` as a dict (or None for a number)."""
    if isinstance(params, dict):
        return params
    return None


class SpatialUpSamplingBilinear(Module):
    """Bilinear upsampling with the corners aligned.

    ``nn.SpatialUpSamplingBilinear(scale)`` or ``({oheight=, owidth=})`` (a dict).
    Shape: ``(.., C, H, W)`` -> ``(.., C, H*scale, W*scale)`` or ``(.., C, oheight,
    owidth)``; output pixel j samples the input at ``j * (H-1)/(oH-1)``.
    """

    owidth = oheight = scale_factor = None  # Lua saves no nil fields

    def __init__(self, params):
        super().__init__()
        size = _size_params(params)
        self.owidth = self.oheight = self.scale_factor = None
        if size is not None:
            self.owidth, self.oheight = size.get("owidth"), size.get("oheight")
        else:
            self.scale_factor = _check_scale(params)
        self.inputSize = np.zeros(4, np.int64)
        self.outputSize = np.zeros(4, np.int64)

    def _out_hw(self, input):
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError("SpatialUpSamplingBilinear only supports 3D or 4D tensors")
        h, w = input.shape[-2:]
        if self.scale_factor is not None:
            return (h * self.scale_factor, w * self.scale_factor)
        return (int(self.oheight), int(self.owidth))

    def updateOutput(self, input):
        out = self._out_hw(input)
        self.output = linear_up(input, out)
        self.inputSize[:] = (1,) * (4 - input.ndim) + input.shape
        self.outputSize[:] = (1,) * (4 - input.ndim) + self.output.shape
        return self.output

    def updateGradInput(self, input, gradOutput):
        out = self._out_hw(input)
        self._check_grad(gradOutput, input.shape[:-2] + out)
        self.gradInput = linear_down(gradOutput, input.shape[-2:])
        return self.gradInput

    def __tostring__(self):
        if self.scale_factor is not None:
            return f"{self._name()}({self.scale_factor})"
        return f"{self._name()}({self.oheight}, {self.owidth})"


class UpSampling(Module):
    """Nearest or linear upsampling of 4D (spatial) or 5D (volumetric) input.

    ``nn.UpSampling(scale, mode='nearest')`` or ``nn.UpSampling({oheight=, owidth=
    [, odepth=]}, 'linear')``; ``'bilinear'``/``'trilinear'`` mean ``'linear'``, any
    other mode is nearest. Shape: ``(N, C, [T,] H, W)`` -> each axis times ``scale``, or
    the sizes given; linear interpolation aligns the corners.
    """

    odepth = owidth = oheight = scale_factor = None  # Lua saves no nil fields

    def __init__(self, params, mode=None):
        super().__init__()
        self.mode = "linear" if mode in ("linear", "bilinear", "trilinear") else "nearest"
        self.odepth = self.owidth = self.oheight = self.scale_factor = None
        size = _size_params(params)
        if size is not None:
            if self.mode == "nearest":
                raise ValueError("Nearest neighbour upsampling requires a scale_factor")
            self.odepth, self.owidth, self.oheight = (
                size.get("odepth"),
                size.get("owidth"),
                size.get("oheight"),
            )
            if self.owidth is None or self.oheight is None:
                raise ValueError("Output height and width parameters are required")
        else:
            self.scale_factor = _check_scale(params)
        self.inputSize = np.zeros(5, np.int64)
        self.outputSize = np.zeros(5, np.int64)

    def _out_sizes(self, input):
        self._check_input(input)
        if input.ndim not in (4, 5):
            raise ValueError("UpSampling only supports 4D or 5D tensors")
        rank = input.ndim - 2
        if self.scale_factor is not None:
            return tuple(s * self.scale_factor for s in input.shape[2:])
        if rank == 3 and self.odepth is None:
            raise ValueError("No output depth dimension was supplied for volumetric upsampling")
        sizes = (
            (self.oheight, self.owidth) if rank == 2 else (self.odepth, self.oheight, self.owidth)
        )
        return tuple(int(s) for s in sizes)

    def updateOutput(self, input):
        out = self._out_sizes(input)
        rank = input.ndim - 2
        if self.mode == "nearest":
            self.output = nearest_up(input, self.scale_factor, rank)
        else:
            self.output = linear_up(input, out)
        self.inputSize[: input.ndim] = input.shape
        self.outputSize[: input.ndim] = self.output.shape
        return self.output

    def updateGradInput(self, input, gradOutput):
        out = self._out_sizes(input)
        if gradOutput.ndim != input.ndim:
            raise ValueError("Input and gradOutput should be of same dimension")
        self._check_grad(gradOutput, input.shape[:2] + out)
        rank = input.ndim - 2
        if self.mode == "nearest":
            self.gradInput = nearest_down(gradOutput, self.scale_factor, rank)
        else:
            self.gradInput = linear_down(gradOutput, input.shape[2:])
        return self.gradInput

    def __tostring__(self):
        if self.scale_factor is not None:
            return f"{self._name()}({self.scale_factor}x, {self.mode})"
        if self.odepth is not None:
            return f"{self._name()}({self.odepth}x{self.oheight}x{self.owidth}, {self.mode})"
        return f"{self._name()}({self.oheight}x{self.owidth}, {self.mode})"
