"""Modules that rescale, reroute gradients, add noise, check or encode: Constant,
Normalize, GradientReversal, ZeroGrad, WhiteNoise, NaN, OneHot."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend as B
from .containers import Container
from .module import Module, _size_desc

__all__ = [
    "Constant",
    "Normalize",
    "GradientReversal",
    "ZeroGrad",
    "WhiteNoise",
    "NaN",
    "OneHot",
]


class Constant(Module):
    """Outputs ``value`` whatever the input; the gradient is zero.

    ``nn.Constant(value, nInputDim=None)``: ``value`` a number or an array; with
    ``nInputDim``, an input of more dims is a batch and the value is repeated per row.
    Shape: ``value``'s shape, or (N, *value.shape) for a batch.
    """

    def __init__(self, value, nInputDim: int | None = None):
        super().__init__()
        xp, dtype = B.xp_dtype(self._type)
        if isinstance(value, numbers.Real):
            value = [value]
        elif not B.is_array(value):
            raise TypeError("nn.Constant: Expecting number or tensor at arg 1")
        self.value = xp.asarray(B.to_numpy(value), dtype=dtype)
        self.nInputDim = nInputDim

    def _after_load(self):
        self.__dict__.setdefault("nInputDim", None)

    def updateOutput(self, input):
        if not B.is_array(input):
            raise TypeError(f"{self._name()}: expected an array input, got {type(input).__name__}")
        xp = B.get_array_module(self.value)
        if self.nInputDim is not None and input.ndim > self.nInputDim:
            shape = (input.shape[0],) + self.value.shape
            self.output = xp.broadcast_to(self.value, shape).copy()
        else:
            self.output = self.value.copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = self._xp.zeros(input.shape, self._dtype)
        return self.gradInput


class Normalize(Module):
    """Divides each row by its p-norm: ``y = x / (sum |x|^p + eps)^(1/p)``.

    ``nn.Normalize(p, eps=1e-10)``; ``p = math.inf`` divides by ``max |x| + eps``.
    Shape: ``(D)`` or ``(N, D)``, output as input.
    """

    def __init__(self, p, eps=1e-10):
        super().__init__()
        if p is None:
            raise ValueError("nn.Normalize: p-norm not provided")
        if not p > 0:
            raise ValueError(f"nn.Normalize: {_lua_num(p)}-norm not supported")
        self.p = p
        self.eps = eps

    def _rows(self, x, what="input"):
        if x.ndim not in (1, 2):
            raise ValueError(
                f"{self._name()}: only 1d layer supported: expected 1D or 2D {what}, "
                f"got {_size_desc(x.shape)}"
            )
        return x.reshape(1, -1) if x.ndim == 1 else x

    def updateOutput(self, input):
        self._check_input(input)
        x = self._rows(input)
        xp = B.get_array_module(x)
        t = x.dtype.type
        if self.p == math.inf:
            self.buffer = xp.abs(x)
            idx = self.buffer.argmax(axis=1)[:, None]
            self._indices = idx + 1  # Lua's 1-based LongTensor
            self.norm = xp.take_along_axis(self.buffer, idx, axis=1) + t(self.eps)
        else:
            p = t(self.p)
            self.buffer = xp.abs(x) ** p if self.p % 2 != 0 else x**p
            self.normp = self.buffer.sum(axis=1, keepdims=True) + t(self.eps)
            self.norm = self.normp ** (1 / p)
        self.output = (x / self.norm).reshape(input.shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        x = self._rows(input)
        go = gradOutput.reshape(x.shape)
        xp = B.get_array_module(x)
        t = x.dtype.type
        if self.p == math.inf:
            gi = self.norm * go
            idx = self._indices - 1
            cross = xp.take_along_axis(x, idx, axis=1) / self.norm
            buf = (xp.arange(x.shape[1])[None, :] == idx) * cross
            denom = self.norm * self.norm
        else:
            gi = self.normp * go
            p = self.p
            if p % 2 != 0:
                a = xp.abs(x) + t(self.eps) if p < 2 else xp.abs(x)
                with np.errstate(divide="ignore", invalid="ignore"):
                    buf = a ** t(p - 2) * x
            elif p == 2:
                buf = x.copy()
            else:
                buf = x ** t(p - 2) * x
            denom = self.normp * self.norm
        self.cross = (x * go).sum(axis=1, keepdims=True)
        self.buffer = buf * self.cross
        gi = (gi - self.buffer) / denom
        self.gradInput = gi.reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("_output", "_indices", "_gradInput", "buffer", "norm", "normp", "cross")
        self._clear("buffer2")
        return super().clearState()

    def __tostring__(self):
        if self.p % 1 == 0:
            return f"{self._name()}({int(self.p)})"
        return f"{self._name()}({self.p:f})"


class GradientReversal(Module):
    """Identity forward; backward multiplies the gradient by ``-lambda``.

    ``nn.GradientReversal(lambda=1)``; ``setLambda(l)`` changes it. Shape: any.
    """

    def __init__(self, lam=1):
        super().__init__()
        self.__dict__["lambda"] = lam

    def setLambda(self, lam):
        self.__dict__["lambda"] = lam
        return self

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput * gradOutput.dtype.type(-self.__dict__["lambda"])
        return self.gradInput


class ZeroGrad(Module):
    """Identity forward; the gradient is zero. ``nn.ZeroGrad()``. Shape: any."""

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self.gradInput = B.get_array_module(input).zeros_like(input)
        return self.gradInput


class WhiteNoise(Module):
    """Adds Gaussian noise N(mean, std) while training; ``noise`` keeps it.

    ``nn.WhiteNoise(mean=0, std=0.1)``. In evaluate mode the output is
    ``input + mean`` and backward is an error. Setting ``_fixed_noise`` (an array
    shaped as the input) makes training add it instead of drawing. Shape: any.
    """

    def __init__(self, mean=0, std=0.1):
        super().__init__()
        self.mean, self.std = mean, std
        self.noise = self._zeros(0)
        self.train = True

    def _after_load(self):
        self.__dict__.setdefault("train", True)  # Lua tests ``self.train ~= false``

    def updateOutput(self, input):
        self._check_input(input)
        xp = B.get_array_module(input)
        if self.train:
            fixed = getattr(self, "_fixed_noise", None)
            if fixed is not None:
                noise = xp.asarray(B.to_numpy(fixed) if xp is np else fixed, dtype=input.dtype)
                if noise.shape != input.shape:
                    raise ValueError(
                        f"{self._name()}: _fixed_noise of shape {_size_desc(noise.shape)} "
                        f"does not match the input {_size_desc(input.shape)}"
                    )
            elif xp is np:
                noise = B.cpu_rng().normal(self.mean, self.std, input.shape).astype(input.dtype)
            else:
                noise = xp.random.normal(self.mean, self.std, input.shape).astype(input.dtype)
            self.noise = noise
            self.output = input + noise
        elif self.mean != 0:
            self.output = input + input.dtype.type(self.mean)
        else:
            self.output = input.copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        if not self.train:
            raise RuntimeError(f"{self._name()}: backprop only defined while training")
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput.copy()
        return self.gradInput

    def clearState(self):
        self._clear("noise")
        return super().clearState()

    def __tostring__(self):
        return f"{self._name()} mean: {self.mean:f}, std: {self.std:f}"


def _lua_num(v):
    """Lua's tostring of a number: integers without decimals, else %.14g."""
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:.14g}"


def _has_nan(x):
    if isinstance(x, (list, tuple)):
        return any(_has_nan(v) for v in x)
    if isinstance(x, dict):
        return any(_has_nan(v) for v in x.values())
    if B.is_array(x):
        return bool(B.get_array_module(x).isnan(x.sum()))
    return isinstance(x, float) and math.isnan(x)


class NaN(Container):
    """Decorates ``module`` and raises when a NaN appears in its output or gradients.

    ``nn.NaN(module, id=None)``: ``id`` names it in the error (default: a counter).
    The error says whether the input, the parameters, the output, gradOutput, the
    gradInput or the gradParameters hold the NaN, as Lua's. Shape: the module's.

    Differences from Torch7: Lua raises after the decorated module has run; here the
    fields the module rebound are put back first, and gradients accumulate into
    scratch arrays that are added only when they hold no NaN, so a failed call
    leaves the module as it was.
    """

    _last_id = 0

    def __init__(self, module, id=None):  # noqa: A002 - Lua's name
        super().__init__()
        self.modules = [module]
        if id is None:
            NaN._last_id += 1
            id = NaN._last_id  # noqa: A001
        self.id = id

    def _fail(self, what, saved=None):
        for mod, fields in saved or ():
            mod.__dict__.clear()
            mod.__dict__.update(fields)
        raise ValueError(f"NaN found in {what} of module :\n{self.__tostring__()}")

    def _saved(self):
        return [(mod, dict(mod.__dict__)) for mod in self.modules[0].listModules()]

    def updateOutput(self, input):
        saved = self._saved()
        out = self.modules[0].updateOutput(input)
        if _has_nan(out):
            if _has_nan(input):
                self._fail("input", saved)
            params = self.parameters()
            if params and _has_nan(params[0]):
                self._fail("parameters", saved)
            self._fail("output", saved)
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        saved = self._saved()
        gi = self.modules[0].updateGradInput(input, gradOutput)
        if _has_nan(gi):
            if _has_nan(gradOutput):
                self._fail("gradOutput", saved)
            self._fail("gradInput", saved)
        self.gradInput = gi
        return gi

    def accGradParameters(self, input, gradOutput, scale=1):
        slots = self._parameter_slots()
        grads = [getattr(m, g) for m, _, g in slots]
        saved = self._saved()
        for (m, _, g), a in zip(slots, grads):
            setattr(m, g, B.get_array_module(a).zeros_like(a))
        try:
            self.modules[0].accGradParameters(input, gradOutput, scale)
            scratch = [getattr(m, g) for m, _, g in slots]
        finally:
            for (m, _, g), a in zip(slots, grads):
                setattr(m, g, a)
        if _has_nan(scratch) or _has_nan(grads):
            self._fail("gradParameters", saved)
        for a, d in zip(grads, scratch):
            a += d

    def __tostring__(self):
        ident = _lua_num(self.id) if isinstance(self.id, numbers.Real) else str(self.id)
        return f"{self._name()}({ident}) @ {self.modules[0]}"


class OneHot(Module):
    """One-hot encoding of 1-based class indices.

    ``nn.OneHot(outputSize)``: an integer array of indices in 1..outputSize gives an
    array of the module's type with one more dim of size ``outputSize``, 1 at each
    index; a single number gives a vector. The gradient is zero.
    Shape: ``(*)`` -> ``(*, outputSize)``.
    """

    def __init__(self, outputSize: int):
        super().__init__()
        self.outputSize = outputSize

    def _indices(self, input):
        xp = self._xp
        if isinstance(input, numbers.Real) and not isinstance(input, bool):
            idx = xp.asarray([input], dtype=np.int64).reshape(())
        elif B.is_array(input) and input.dtype.kind in "iuf":
            # as Lua, indices of another type or device are cast (to a LongTensor)
            src = input if B.get_array_module(input) is xp else B.to_numpy(input)
            idx = xp.asarray(src).astype(np.int64)
        else:
            raise TypeError(
                f"{self._name()}: expected a number or an array of 1-based indices, "
                f"got {type(input).__name__}"
            )
        if idx.size and (int(idx.min()) < 1 or int(idx.max()) > self.outputSize):
            raise IndexError(
                f"{self._name()}: indices must be in 1..{self.outputSize} (1-based, as Lua), "
                f"got values from {int(idx.min())} to {int(idx.max())}"
            )
        return idx

    def updateOutput(self, input):
        idx = self._indices(input)
        xp = self._xp
        out = (xp.arange(1, self.outputSize + 1) == idx[..., None]).astype(self._dtype)
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        if isinstance(input, numbers.Real):
            return 0
        self.gradInput = self._xp.zeros(input.shape, self._dtype)
        return self.gradInput

    def clearState(self):
        self._clear("_single", "_input")
        return super().clearState()
