"""LP pooling over space and over features, and dynamic k-max pooling over time."""

from __future__ import annotations

import math
import sys

from . import backend as B
from .containers import Sequential
from .module import Module, _size_desc
from .pooling import SpatialAveragePooling

__all__ = ["FeatureLPPooling", "SpatialLPPooling", "TemporalDynamicKMaxPooling"]


# --- LP pooling ----------------------------------------------------------------------------
def _nn(name):
    """An nn class another family provides, looked up when it is needed."""
    cls = getattr(sys.modules["nnlegacy"], name, None)
    if cls is None:
        raise NotImplementedError(f"nn.SpatialLPPooling needs nn.{name}, not yet in nnlegacy")
    return cls


class SpatialLPPooling(Sequential):
    """The p-norm of each window: ``(sum x^p)^(1/p)``, as Lua's Sequential of
    Power (Square), SpatialAveragePooling, MulConstant(kW*kH) and Power(1/p) (Sqrt).

    ``nn.SpatialLPPooling(nInputPlane, pnorm, kW, kH, dW=kW, dH=kH)``.
    Shape: as SpatialAveragePooling's. Prints as its Sequential, as in Lua.
    """

    def __init__(self, nInputPlane: int, pnorm, kW: int, kH: int, dW=None, dH=None):
        super().__init__()
        dW = kW if dW is None else dW
        dH = kH if dH is None else dH
        self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
        self.add(_nn("Square")() if pnorm == 2 else _nn("Power")(pnorm))
        self.add(SpatialAveragePooling(kW, kH, dW, dH))
        self.add(_nn("MulConstant")(kW * kH))
        self.add(_nn("Sqrt")() if pnorm == 2 else _nn("Power")(1 / pnorm))

    def reset(self, stdv=None):
        return self


# --- feature LP pooling ------------------------------------------------------------------
class FeatureLPPooling(Module):
    """The p-norm over windows of ``width`` features taken every ``stride`` features.

    ``nn.FeatureLPPooling(width, stride, power, batch_mode)``; the features are the
    first axis (the second with ``batch_mode``); up to two further axes follow.
    Shape: ``F`` -> ``(F - width) // stride + 1`` features.
    Differences from Torch7: Lua's ``tostring`` raises (it formats ``batch_mode``, a
    boolean, with ``%d``); ``__tostring__`` raises Lua's error too, but ``repr`` gives
    a readable line so that Python tools keep working.
    """

    def __init__(self, width: int, stride: int, power, batch_mode):
        super().__init__()
        if width < 2 or width > 16:
            raise ValueError("width must be within 2 to 16")
        if stride < 1 or stride > 4:
            raise ValueError("stride must be within 1 to 4")
        self.width, self.stride, self.power = width, stride, power
        self.batch_mode = bool(batch_mode)

    def _geometry(self, input):
        self._check_input(input)
        lo = 2 if self.batch_mode else 1
        if not lo <= input.ndim <= lo + 2:
            raise ValueError(
                f"{self._name()}: expected {lo}D to {lo + 2}D input "
                f"({'batch mode' if self.batch_mode else 'no batch mode'}), "
                f"got {_size_desc(input.shape)}"
            )
        axis = 1 if self.batch_mode else 0
        f = input.shape[axis]
        if f < self.width:
            raise ValueError(
                f"{self._name()}: input has {f} features, fewer than width {self.width}"
            )
        return axis, (f - self.width) // self.stride + 1

    def _window(self, a, axis, i, o):
        sl = [slice(None)] * a.ndim
        sl[axis] = slice(i, i + self.stride * (o - 1) + 1, self.stride)
        return tuple(sl)

    def updateOutput(self, input):
        axis, o = self._geometry(input)
        p = self.power
        s = None
        for i in range(self.width):
            v = input[self._window(input, axis, i, o)]
            v = v * v if p == 2 else v**p
            s = v if s is None else s + v
        self.output = B.get_array_module(s).sqrt(s) if p == 2 else s ** (1.0 / p)
        return self.output

    def updateGradInput(self, input, gradOutput):
        axis, o = self._geometry(input)
        self._check_grad(gradOutput, self.output.shape)
        xp = B.get_array_module(input)
        p = self.power
        gi = xp.zeros(input.shape, input.dtype)
        ratio = gradOutput / self.output ** (p - 1)
        for i in range(self.width):
            sl = self._window(input, axis, i, o)
            gi[sl] += ratio * input[sl] ** (p - 1)
        self.gradInput = gi
        return gi

    def __tostring__(self):
        raise TypeError("bad argument #6 to '?' (number expected, got boolean)")

    def __repr__(self):
        return (
            f"{self._name()}({self.width}, {self.stride}, {self.power}, "
            f"{str(self.batch_mode).lower()})"
        )

    __str__ = __repr__


# --- dynamic k-max pooling ---------------------------------------------------------------
class TemporalDynamicKMaxPooling(Module):
    """The k largest frames of each feature, kept in their original order.

    ``nn.TemporalDynamicKMaxPooling(minK, factor=0)``; ``k = max(minK,
    ceil(factor * T))``. Shape: ``(.., T, F)`` -> ``(.., k, F)``; ``indices`` holds the
    1-based frames kept.
    """

    def __init__(self, minK: int, factor=0):
        super().__init__()
        self.minK, self.factor = minK, factor
        self.indices = self._xp.empty(0, "int64")

    def _k(self, input):
        self._check_input(input)
        if input.ndim not in (2, 3):
            raise ValueError(f"Only 2D or 3D(batch mode) accepted, got {_size_desc(input.shape)}")
        t = input.shape[-2]
        k = max(self.minK, math.ceil(self.factor * t))
        if t < self.minK:
            raise ValueError(f"Input sequence length ({t}) too small for desired k value ({k})")
        return k

    def updateOutput(self, input):
        k = self._k(input)
        xp = B.get_array_module(input)
        order = xp.argsort(-input, axis=-2, kind="stable")
        kept = xp.sort(order[..., :k, :], axis=-2)
        self.output = xp.take_along_axis(input, kept, axis=-2)
        self.indices = kept + 1
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._k(input)
        self._check_grad(gradOutput, self.indices.shape)
        xp = B.get_array_module(input)
        t, f = input.shape[-2:]
        k = self.indices.shape[-2]
        rows = (self.indices - 1).reshape(-1, k, f) + (xp.arange(gradOutput.size // (k * f)) * t)[
            :, None, None
        ]
        gi = xp.zeros(input.size, input.dtype)
        gi[rows * f + xp.arange(f)] = gradOutput.reshape(-1, k, f)  # the frames are distinct
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("indices")
        return super().clearState()
