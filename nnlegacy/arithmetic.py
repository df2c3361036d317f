"""Arithmetic modules: element-wise functions (Abs, Square, Sqrt, Power, Exp, Log),
constant shifts and scales (AddConstant, MulConstant) and learnt ones (Add, Mul, CAdd, CMul)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend as B
from .module import Module, _size_desc

__all__ = [
    "Abs",
    "Square",
    "Sqrt",
    "Power",
    "Exp",
    "Log",
    "AddConstant",
    "MulConstant",
    "Add",
    "Mul",
    "CAdd",
    "CMul",
]


class Abs(Module):
    """``y = |x|``; the gradient is ``sign(x)`` with +1 at 0, as THNN. ``nn.Abs()``.

    Shape: any, output as input.
    """

    def updateOutput(self, input):
        self._check_input(input)
        self.output = B.get_array_module(input).abs(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        xp = B.get_array_module(input)
        self.gradInput = xp.where(input >= 0, gradOutput, -gradOutput)
        return self.gradInput


class Square(Module):
    """``y = x * x``. ``nn.Square()``. Shape: any, output as input."""

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input * input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = 2 * gradOutput * input
        return self.gradInput


class Sqrt(Module):
    """``y = sqrt(x)``; the gradient is 0 where ``y == 0``.

    ``nn.Sqrt(b=0)`` stores ``eps = b``, which THNN's kernel never reads (the golden
    ``nn.Sqrt(1e-3)`` gives ``sqrt(x)``), so neither does this. Shape: any.
    """

    def __init__(self, b=0):
        super().__init__()
        self.eps = b

    def updateOutput(self, input):
        self._check_input(input)
        self.output = B.get_array_module(input).sqrt(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        xp = B.get_array_module(input)
        y = self.output
        with np.errstate(divide="ignore", invalid="ignore"):
            self.gradInput = xp.where(y == 0, 0, (0.5 * gradOutput) / y).astype(input.dtype)
        return self.gradInput


class Power(Module):
    """``y = x ^ pow``. ``nn.Power(p)``. Shape: any, output as input."""

    def __init__(self, p):
        super().__init__()
        if not isinstance(p, numbers.Real):
            raise TypeError("nn.Power(power)")
        self.pow = p

    def updateOutput(self, input):
        self._check_input(input)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.output = input ** input.dtype.type(self.pow)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        t = input.dtype.type
        with np.errstate(divide="ignore", invalid="ignore"):
            self.gradInput = input ** t(self.pow - 1) * gradOutput * t(self.pow)
        return self.gradInput


class Exp(Module):
    """``y = exp(x)``. ``nn.Exp()``. Shape: any, output as input."""

    def updateOutput(self, input):
        self._check_input(input)
        self.output = B.get_array_module(input).exp(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, self.output.shape)
        self.gradInput = self.output * gradOutput
        return self.gradInput


class Log(Module):
    """``y = log(x)``. ``nn.Log()``. Shape: any, output as input."""

    def updateOutput(self, input):
        self._check_input(input)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.output = B.get_array_module(input).log(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        with np.errstate(divide="ignore"):
            self.gradInput = (1 / input) * gradOutput
        return self.gradInput


def _check_inplace(ip):
    if not isinstance(ip, bool):
        raise TypeError("in-place flag must be boolean")


class AddConstant(Module):
    """``y = x + constant_scalar``.

    ``nn.AddConstant(constant_scalar, ip=False)``: the constant is a number, or a 1D
    array added to a 1D input or to every row of a 2D input. With ``ip`` the input
    itself is shifted, and shifted back by backward. Shape: any, output as input.
    """

    def __init__(self, constant_scalar, ip=False):
        super().__init__()
        if B.is_array(constant_scalar):
            xp, dtype = B.xp_dtype(self._type)
            constant_scalar = xp.asarray(B.to_numpy(constant_scalar), dtype=dtype)
        _check_inplace(ip)
        self.constant_scalar = constant_scalar
        self.inplace = ip

    def _after_load(self):
        self.__dict__.setdefault("inplace", False)  # older nn had no in-place flag

    def _constant(self, input):
        c = self.constant_scalar
        if not B.is_array(c):
            return input.dtype.type(c)
        if input.ndim > 2 or input.ndim == 0 or input.shape[-1] != c.shape[0]:
            raise ValueError(
                f"{self._name()}: input is not scalar or doesn't match with the dimension of "
                f"constant! (constant {_size_desc(c.shape)}, input {_size_desc(input.shape)})"
            )
        return c

    def updateOutput(self, input):
        self._check_input(input)
        c = self._constant(input)
        if self.inplace:
            input += c
            self.output = input
        else:
            self.output = input + c
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        if self.inplace:
            self.gradInput = gradOutput
            input -= self._constant(input)
        else:
            self.gradInput = gradOutput.copy()
        return self.gradInput


class MulConstant(Module):
    """``y = x * constant_scalar``.

    ``nn.MulConstant(constant_scalar, ip=False)``; with ``ip`` the input itself is
    scaled, and scaled back by backward (which scales gradOutput in place).
    Shape: any, output as input.
    """

    def __init__(self, constant_scalar, ip=False):
        super().__init__()
        if not isinstance(constant_scalar, numbers.Real) or isinstance(constant_scalar, bool):
            raise TypeError("input is not scalar!")
        _check_inplace(ip)
        self.constant_scalar = constant_scalar
        self.inplace = ip

    def _after_load(self):
        self.__dict__.setdefault("inplace", False)  # older nn had no in-place flag

    def updateOutput(self, input):
        self._check_input(input)
        c = input.dtype.type(self.constant_scalar)
        if self.inplace:
            input *= c
            self.output = input
        else:
            self.output = input * c
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        c = input.dtype.type(self.constant_scalar)
        if self.inplace:
            gradOutput *= c
            self.gradInput = gradOutput
            input /= c
        else:
            self.gradInput = gradOutput * c
        return self.gradInput


class Add(Module):
    """``y = x + bias`` with a learnt bias.

    ``nn.Add(inputSize, scalar=False)``: ``bias`` has ``inputSize`` elements (one
    with ``scalar``), drawn from U(-1/sqrt(n), 1/sqrt(n)). An input of the bias's
    shape is added to directly, else it is a batch: viewed as (N, -1), each row gets
    the bias. Shape: any, output as input.
    """

    def __init__(self, inputSize: int, scalar=False):
        super().__init__()
        size = 1 if scalar else inputSize
        self.scalar = bool(scalar)
        self.bias = self._zeros(size)
        self.gradBias = self._zeros(size)
        self._ones = self._xp.ones(1, self._dtype)
        self.reset()

    def _after_load(self):
        self.__dict__.setdefault("scalar", False)  # Lua leaves a false flag nil

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(self.bias.shape[0])
        B.uniform_(self.bias, -stdv, stdv)
        return self

    def _rows(self, x):
        n = x.shape[0] if x.ndim else 1
        if x.ndim == 0 or x.size // n != self.bias.size:
            raise ValueError(
                f"{self._name()}: expected input of shape {_size_desc(self.bias.shape)} or a "
                f"batch of N x {self.bias.size} elements, got {_size_desc(x.shape)}"
            )
        return x.reshape(n, -1)

    def updateOutput(self, input):
        self._check_input(input)
        if self.scalar:
            self.output = input + self.bias[0]
        elif input.shape == self.bias.shape:
            self.output = input + self.bias
        else:
            self.output = (self._rows(input) + self.bias.reshape(-1)).reshape(input.shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput.copy()
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check_grad(gradOutput, input.shape)
        if self.gradBias.shape[0] == 1:
            self.gradBias[0] += scale * gradOutput.sum()
        elif input.shape == self.bias.shape:
            self.gradBias += scale * gradOutput
        else:
            self.gradBias.reshape(-1)[...] += scale * self._rows(gradOutput).sum(axis=0)


class Mul(Module):
    """``y = weight * x`` with one learnt scalar ``weight``, drawn from U(-1, 1).

    ``nn.Mul()`` (Lua's optional inputSize only pre-sizes buffers). Shape: any.
    """

    def __init__(self, inputSize=None):
        super().__init__()
        self.weight = self._zeros(1)
        self.gradWeight = self._zeros(1)
        self.reset()

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(self.weight.shape[0])
        B.uniform_(self.weight, -stdv, stdv)
        return self

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input * self.weight[0]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput * self.weight[0]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check_grad(gradOutput, input.shape)
        self.gradWeight[0] += scale * (input * gradOutput).sum()


def _sizes(args, who):
    if len(args) == 1 and (isinstance(args[0], (list, tuple)) or B.is_array(args[0])):
        args = tuple(int(s) for s in np.asarray(B.to_numpy(args[0])).reshape(-1))
    if not args or any(int(s) != s or s < 1 for s in args):
        raise ValueError(f"{who}: expected positive sizes, got {args}")
    return tuple(int(s) for s in args)


def _lay_over(p, x, name):
    """How Lua's CMul/CAdd lay parameter ``p`` over input ``x``.

    Returns ``(shape, view)``: ``x`` is worked on as ``x.reshape(shape)`` and ``p`` as
    ``view``, which broadcasts to ``shape`` (Torch's expandAs: sizes equal or 1).
    Equal element counts pair up element by element; a parameter with as many dims
    as ``x`` is expanded over it; otherwise ``x`` is a batch viewed as (N, -1).
    """
    if p.size == x.size:
        return x.shape, p.reshape(x.shape)
    if p.ndim == x.ndim:
        shape, view = x.shape, p
    else:
        n = x.shape[0] if x.ndim else 1
        shape, view = (n, x.size // n), p.reshape(1, -1)
    if any(a != b and a != 1 for a, b in zip(view.shape, shape)):
        raise ValueError(
            f"{name}: incorrect size: only supporting singleton expansion (size=1): "
            f"cannot expand the parameter {_size_desc(p.shape)} over the input "
            f"{_size_desc(x.shape)}"
        )
    return shape, view


def _reduce_to(a, view, p):
    """Sum ``a`` over the dims ``view`` broadcasts along, shaped as ``p``."""
    axes = tuple(i for i, (v, s) in enumerate(zip(view.shape, a.shape)) if v == 1 and s != 1)
    if axes:
        a = a.sum(axis=axes, keepdims=True)
    return a.reshape(p.shape)


class CAdd(Module):
    """``y = x + bias`` with a learnt bias of any shape, broadcast as Lua expands it.

    ``nn.CAdd(size...)`` (or one list of sizes); ``bias`` from U(-1/sqrt(n), 1/sqrt(n)),
    n its element count. With as many elements as the input it is added element by
    element; with as many dims it is expanded over its size-1 dims; else the input
    is a batch viewed as (N, -1). Shape: any, output as input.
    """

    def __init__(self, *size):
        super().__init__()
        sizes = _sizes(size, "nn.CAdd")
        self.size = np.array(sizes, np.int64)
        self.bias = self._zeros(*sizes)
        self.gradBias = self._zeros(*sizes)
        self.reset()

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(self.bias.size)
        B.uniform_(self.bias, -stdv, stdv)
        return self

    def updateOutput(self, input):
        self._check_input(input)
        shape, b = _lay_over(self.bias, input, self._name())
        self.output = (input.reshape(shape) + b).reshape(input.shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        self.gradInput = gradOutput.copy()
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check_grad(gradOutput, input.shape)
        shape, b = _lay_over(self.bias, input, self._name())
        self.gradBias += scale * _reduce_to(gradOutput.reshape(shape), b, self.bias)

    def clearState(self):
        self._clear("_gradBias", "_expand", "_output", "_bias", "_repeat", "_gradOutput")
        return super().clearState()


class CMul(Module):
    """``y = x * weight`` with a learnt weight of any shape, broadcast as Lua expands it.

    ``nn.CMul(size...)`` (or one list of sizes); ``weight`` from
    U(-1/sqrt(n), 1/sqrt(n)). The weight is laid over the input as in CAdd.
    Shape: any, output as input.
    """

    def __init__(self, *size):
        super().__init__()
        sizes = _sizes(size, "nn.CMul")
        self.size = np.array(sizes, np.int64)
        self.weight = self._zeros(*sizes)
        self.gradWeight = self._zeros(*sizes)
        self.reset()

    def reset(self, stdv=None):
        stdv = stdv * math.sqrt(3) if stdv is not None else 1 / math.sqrt(self.weight.size)
        B.uniform_(self.weight, -stdv, stdv)
        return self

    def updateOutput(self, input):
        self._check_input(input)
        shape, w = _lay_over(self.weight, input, self._name())
        self.output = (input.reshape(shape) * w).reshape(input.shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        shape, w = _lay_over(self.weight, input, self._name())
        self.gradInput = (gradOutput.reshape(shape) * w).reshape(input.shape)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check_grad(gradOutput, input.shape)
        shape, w = _lay_over(self.weight, input, self._name())
        prod = input.reshape(shape) * gradOutput.reshape(shape)
        self.gradWeight += scale * _reduce_to(prod, w, self.weight)

    def clearState(self):
        self._clear("_input", "_output", "_weight", "_gradWeight", "_expand", "_repeat", "_sum")
        self._clear("_gradOutput", "_gradInput")
        return super().clearState()
