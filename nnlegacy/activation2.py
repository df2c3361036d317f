"""Activations with weights, noise, gates or a shape of their own (PReLU, RReLU,
SoftMin, SpatialSoftMax, SpatialLogSoftMax, GatedLinearUnit, CReLU, Maxout) and the
shrinkers (TanhShrink, HardShrink, SoftShrink)."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .activation import LogSoftMax, ReLU, SoftMax, Tanh, _c, _softmax_axis
from .containers import ConcatTable, Sequential
from .linear import Linear
from .module import Module, _size_desc
from .reduction import Max
from .shape import Identity, View
from .table import JoinTable

__all__ = [
    "PReLU",
    "RReLU",
    "SoftMin",
    "SpatialSoftMax",
    "SpatialLogSoftMax",
    "GatedLinearUnit",
    "CReLU",
    "Maxout",
    "TanhShrink",
    "HardShrink",
    "SoftShrink",
]


class PReLU(Module):
    """``y = x`` for ``x > 0``, else ``weight * x``, with a learnt slope.

    ``nn.PReLU(nOutputPlane=0)``: 0 shares one slope over everything, else one slope
    per plane; the planes are dim 2 for any input with more than one dim (dim 1 for 1D
    input), as THNN, so a non-batch C x H x W input is refused. Slopes start at 0.25.
    Shape: any, output as input.
    """

    def __init__(self, nOutputPlane: int = 0):
        super().__init__()
        self.nOutputPlane = nOutputPlane
        n = nOutputPlane if nOutputPlane else 1
        self.weight = self._zeros(n) + 0.25
        self.gradWeight = self._zeros(n)
        self.gradWeightBuf = self._zeros(0)
        self.gradWeightBuf2 = self._zeros(0)

    def _slope(self, input):
        """The weight shaped to broadcast over ``input`` (after checking the planes)."""
        if self.nOutputPlane == 0:
            return self.weight.reshape(())
        axis = 1 if input.ndim > 1 else 0
        got = input.shape[axis] if input.ndim else 1
        if got != self.nOutputPlane:
            raise ValueError(
                f"{self._name()}: Wrong number of input planes. Expected {self.nOutputPlane} "
                f"but got {got}. (input {_size_desc(input.shape)}; the planes are dim 2 for "
                "any input with more than one dim)"
            )
        shape = [1] * input.ndim
        shape[axis] = self.nOutputPlane
        return self.weight.reshape(shape)

    def updateOutput(self, input):
        self._check_input(input)
        w = self._slope(input)
        xp = B.get_array_module(input)
        self.output = xp.where(input > 0, input, input * w)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        w = self._slope(input)
        xp = B.get_array_module(input)
        self.gradInput = xp.where(input > 0, gradOutput, gradOutput * w)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self._slope(input)
        contrib = input * gradOutput * (input <= 0)
        if self.nOutputPlane == 0:
            self.gradWeight += scale * contrib.sum()
        else:
            axis = 1 if input.ndim > 1 else 0
            other = tuple(d for d in range(input.ndim) if d != axis)
            self.gradWeight += scale * contrib.sum(axis=other)


class RReLU(Module):
    """Randomised leaky ReLU: ``y = x`` for ``x > 0``, else ``a * x``.

    ``nn.RReLU(l=1/8, u=1/3, ip=False)``. While training, each non-positive element
    draws its slope ``a`` from U(l, u) and ``noise`` keeps the slopes (1 where
    ``x > 0``); in evaluate mode ``a = (l + u) / 2``. Setting ``_fixed_noise`` (an
    array shaped as the input) makes training use those slopes instead of drawing.
    Shape: any, output as input.
    """

    def __init__(self, l=1 / 8, u=1 / 3, ip=False):  # noqa: E741 - Lua's names
        super().__init__()
        if not (0 <= l <= u):
            raise ValueError(f"nn.RReLU: expected 0 <= lower <= upper, got l={l}, u={u}")
        if not isinstance(ip, bool):
            raise TypeError("in-place flag must be boolean")
        self.lower, self.upper = l, u
        self.noise = self._zeros(0)
        self.train = True
        self.inplace = ip

    def _after_load(self):
        self.__dict__.setdefault("train", True)

    def _draw(self, input):
        xp = B.get_array_module(input)
        fixed = getattr(self, "_fixed_noise", None)
        if fixed is not None:
            r = xp.asarray(B.to_numpy(fixed) if xp is np else fixed, dtype=input.dtype)
            if r.shape != input.shape:
                raise ValueError(
                    f"{self._name()}: _fixed_noise of shape {_size_desc(r.shape)} does not "
                    f"match the input {_size_desc(input.shape)}"
                )
        else:
            r = B.uniform_(xp.empty(input.shape, input.dtype), self.lower, self.upper)
        return xp.where(input <= 0, r, input.dtype.type(1))

    def updateOutput(self, input):
        self._check_input(input)
        xp = B.get_array_module(input)
        if self.train:
            self.noise = self._draw(input)
            slope = self.noise
        else:
            t = input.dtype.type
            slope = xp.where(input <= 0, t((self.lower + self.upper) / 2), t(1))
        if self.inplace:
            input *= slope
            self.output = input
        else:
            self.output = input * slope
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        xp = B.get_array_module(input)
        if self.train and self.upper - self.lower > 1e-6:
            slope = self.noise
        else:
            neg = input.dtype.type((self.lower + self.upper) / 2)
            slope = xp.where(input <= 0, neg, input.dtype.type(1))
        if self.inplace:
            gradOutput *= slope
            self.gradInput = gradOutput
        else:
            self.gradInput = gradOutput * slope
        return self.gradInput

    def clearState(self):
        self._clear("noise")
        return super().clearState()

    def __tostring__(self):
        return f"{self._name()} (l:{self.lower:f}, u:{self.upper:f})"


class SoftMin(Module):
    """``y = softmax(-x)`` over Torch's dim for the rank; ``mininput`` keeps ``-x``.

    ``nn.SoftMin()``. Shape: 1D..4D, normalised over dim 1 (1D, 3D) or 2 (2D, 4D).
    """

    def updateOutput(self, input):
        self._check_input(input)
        axis = _softmax_axis(input, self._name())
        xp = B.get_array_module(input)
        self.mininput = -input
        e = xp.exp(self.mininput - self.mininput.max(axis=axis, keepdims=True))
        self.output = e / e.sum(axis=axis, keepdims=True)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        axis = _softmax_axis(input, self._name())
        self.mininput = -input
        y = self.output
        self.gradInput = -(y * (gradOutput - (gradOutput * y).sum(axis=axis, keepdims=True)))
        return self.gradInput

    def clearState(self):
        self._clear("mininput")
        return super().clearState()


class SpatialSoftMax(SoftMax):
    """SoftMax over the feature planes at each pixel.

    ``nn.SpatialSoftMax()``. Shape: ``(C, H, W)`` or ``(N, C, H, W)``, normalised
    over C (THNN's SoftMax rank rule, which also takes 1D and 2D input).
    """


class SpatialLogSoftMax(LogSoftMax):
    """LogSoftMax over the feature planes at each pixel.

    ``nn.SpatialLogSoftMax()``. Shape: ``(C, H, W)`` or ``(N, C, H, W)``, over C.
    """


class GatedLinearUnit(Module):
    """``y = a * sigmoid(b)`` where ``a``, ``b`` are the two halves of dim ``dim``.

    ``nn.GatedLinearUnit(dim=None)``: ``dim`` is 1-based, default the last dim.
    Shape: as the input with dim ``dim`` halved (it must be even).
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def _after_load(self):
        self.__dict__.setdefault("dim", None)

    def _halves(self, input):
        dim = self.dim if self.dim is not None else input.ndim
        if not 1 <= dim <= input.ndim:
            raise ValueError(
                f"{self._name()}: dim {dim} out of range for input {_size_desc(input.shape)}"
            )
        n = input.shape[dim - 1]
        if n % 2:
            raise ValueError(
                f"{self._name()}: Halving dimension must be even, got size {n} at dim {dim} "
                f"of input {_size_desc(input.shape)}"
            )
        first = [slice(None)] * input.ndim
        second = list(first)
        first[dim - 1] = slice(0, n // 2)
        second[dim - 1] = slice(n // 2, n)
        return tuple(first), tuple(second)

    @staticmethod
    def _sigmoid(xp, x):
        with np.errstate(over="ignore"):
            return 1 / (1 + xp.exp(-x))

    def updateOutput(self, input):
        self._check_input(input)
        f, s = self._halves(input)
        xp = B.get_array_module(input)
        self.output = self._sigmoid(xp, input[s]) * input[f]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        f, s = self._halves(input)
        self._check_grad(gradOutput, input[f].shape)
        xp = B.get_array_module(input)
        z = self._sigmoid(xp, input[s])
        gi = xp.empty_like(input)
        gi[f] = z * gradOutput
        gi[s] = (1 - z) * z * gradOutput * input[f]
        self.gradInput = gi
        return gi


class CReLU(Sequential):
    """Concatenated ReLU: ``y = [relu(x), relu(-x)]`` joined over the feature dim.

    ``nn.CReLU(nInputDims, inplace=False)``: as Lua, a Sequential of
    ConcatTable(Identity, MulConstant(-1)), JoinTable(2) and ReLU(inplace) on the
    input flattened to (batch, -1); an input of ``nInputDims + 1`` dims is a batch.
    Shape: the feature dim (1, or 2 in a batch) doubled.
    """

    def __init__(self, nInputDims: int, inplace=False):
        from .arithmetic import MulConstant

        super().__init__()
        self.nInputDims = nInputDims
        self.inplace = bool(inplace)
        concat = ConcatTable()
        concat.add(Identity())
        concat.add(MulConstant(-1))
        self.add(concat)
        self.add(JoinTable(2))
        self.add(ReLU(self.inplace))

    def _flat_shape(self, input):
        batched = input.ndim == self.nInputDims + 1
        return ((input.shape[0] if batched else 1), -1), batched

    def updateOutput(self, input):
        self._check_input(input)
        flat, batched = self._flat_shape(input)
        out = super().updateOutput(input.reshape(flat))
        shape = list(input.shape)
        shape[1 if batched else 0] *= 2
        self.output = out.reshape(shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        flat, batched = self._flat_shape(input)
        shape = list(input.shape)
        shape[1 if batched else 0] *= 2
        self._check_grad(gradOutput, shape)
        gi = super().updateGradInput(input.reshape(flat), gradOutput.reshape(flat))
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        pass

    def backward(self, input, gradOutput, scale=1):
        return self.updateGradInput(input, gradOutput)

    def __tostring__(self):
        return "CReLU()"


class Maxout(Sequential):
    """The maximum over ``maxoutNumber`` linear units for each output.

    ``nn.Maxout(inputSize, outputSize, maxoutNumber, preprocess=None)``: as Lua, a
    Sequential of Linear(inputSize, outputSize * maxoutNumber), the optional
    ``preprocess`` module, View(maxoutNumber, outputSize) with one input dim, and
    Max(1, 2); it prints as that Sequential. Shape: ``(inputSize)`` or
    ``(N, inputSize)`` -> ``(outputSize)`` or ``(N, outputSize)``.
    """

    def __init__(self, inputSize: int, outputSize: int, maxoutNumber: int, preprocess=None):
        super().__init__()
        self.add(Linear(inputSize, outputSize * maxoutNumber))
        if preprocess is not None:
            self.add(preprocess)
        self.add(View(maxoutNumber, outputSize).setNumInputDims(1))
        self.add(Max(1, 2))


class TanhShrink(Module):
    """``y = x - tanh(x)``. ``nn.TanhShrink()``; ``tanh`` is its nn.Tanh. Shape: any."""

    def __init__(self):
        super().__init__()
        self.tanh = Tanh()

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input - self.tanh.updateOutput(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput - self.tanh.updateGradInput(input, gradOutput)
        return self.gradInput

    def clearState(self):
        self.tanh.clearState()
        return super().clearState()


class HardShrink(Module):
    """``y = x`` where ``|x| > lambda``, else 0. ``nn.HardShrink(lambda=0.5)``. Shape: any."""

    def __init__(self, lam=0.5):
        super().__init__()
        self.__dict__["lambda"] = lam

    def _live(self, input):
        lam = self.__dict__["lambda"]
        return (input > lam) | (input < -lam)

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input * self._live(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput * self._live(input)
        return self.gradInput


class SoftShrink(HardShrink):
    """``y = x - lambda`` above ``lambda``, ``x + lambda`` below ``-lambda``, else 0.

    ``nn.SoftShrink(lambda=0.5)``. Shape: any, output as input.
    """

    def updateOutput(self, input):
        self._check_input(input)
        xp = B.get_array_module(input)
        lam = _c(input, self.__dict__["lambda"])
        self.output = xp.where(input > lam, input - lam, xp.where(input < -lam, input + lam, 0))
        self.output = self.output.astype(input.dtype, copy=False)
        return self.output
