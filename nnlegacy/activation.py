"""Element-wise activations (spec sections 2.9-2.12): Threshold, ReLU, Tanh, Sigmoid,
SoftMax, LogSoftMax, and the clamps, leaky and smooth rectifiers of torch/nn."""

from __future__ import annotations

import numpy as np

from . import threads
from .backend import get_array_module
from .kernels import cuda, cuda_norm
from .module import Module, _size_desc

__all__ = [
    "Threshold",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "SoftMax",
    "LogSoftMax",
    "HardTanh",
    "Clamp",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "SoftPlus",
    "SoftSign",
    "LogSigmoid",
]


def _elementwise(ufunc, x, scalar, out=None):
    """``ufunc(x, scalar)`` into ``out`` (a new array if None), by runs of a contiguous
    array on the shared threads (a large activation map is memory-bound on one core)."""
    out = np.empty_like(x) if out is None else out
    if not (x.flags.c_contiguous and out.flags.c_contiguous):
        return ufunc(x, scalar, out=out)
    xf, of = x.reshape(-1), out.reshape(-1)
    threads.over_runs(lambda i, j: ufunc(xf[i:j], scalar, out=of[i:j]), xf.size, x.itemsize)
    return out


def _threshold_grad(input, gradOutput, th, inplace, out=None):
    """THNN's Threshold gradient on the CPU: gradOutput zeroed where ``input <= th`` (in
    place) or where not ``input > th`` (they differ on NaN input). Zeroed exactly, as
    THNN, by multiplying the bits, as integers, by the 0/1 mask (a NaN or infinite
    gradient times 0.0 would not give 0): two passes per run of the arrays, in cache,
    where a boolean-mask assignment (``g[mask] = 0``) gathers and is ~10x slower."""
    ints = np.dtype(f"i{gradOutput.itemsize}")
    if inplace:
        out = gradOutput
    elif out is None:
        out = np.empty_like(gradOutput)

    def run(x, g, o):
        if inplace:
            keep = np.less_equal(x, th)
            np.logical_not(keep, out=keep)
        else:
            keep = np.greater(x, th)
        np.multiply(g.view(ints), keep, out=o.view(ints))

    if not all(a.flags.c_contiguous for a in (input, gradOutput)):
        run(input, gradOutput, out)
        return out
    xf, gf, of = input.reshape(-1), gradOutput.reshape(-1), out.reshape(-1)
    unit = 4 * xf.itemsize  # input, gradOutput, gradInput and the mask per element
    threads.over_runs(lambda i, j: run(xf[i:j], gf[i:j], of[i:j]), xf.size, unit)
    return out


class Threshold(Module):
    """``y = x if x > threshold else val``.

    ``nn.Threshold(th=1e-6, v=0, ip=False)``; with ``ip`` the input is overwritten.
    Shape: any, output as input.
    """

    def __init__(self, th=1e-6, v=0, ip=False):
        super().__init__()
        if not isinstance(th, (int, float)) or not isinstance(v, (int, float)):
            raise TypeError("nn.Threshold(threshold, value)")
        if not isinstance(ip, bool):
            raise TypeError("in-place flag must be boolean")
        self.threshold, self.val, self.inplace = th, v, ip
        self._validate()

    def _validate(self):
        if self.inplace and self.val > self.threshold:
            raise ValueError(
                f"in-place processing requires value ({_num(self.val)}) "
                f"not exceed threshold ({_num(self.threshold)})"
            )

    def updateOutput(self, input):
        self._check_input(input)
        self._validate()
        xp = get_array_module(input)
        th, val = self.threshold, self.val
        if xp is np and val == th:
            # one pass, no boolean mask (ReLU is Threshold(0, 0)): ``x <= th ? th : x``.
            # As THNN, a NaN stays NaN in place (maximum propagates it) and becomes
            # ``val`` otherwise (fmax ignores it).
            t = input.dtype.type(th)
            if self.inplace:
                self.output = _elementwise(np.maximum, input, t, out=input)
            else:
                out = self._reused("output", input.shape, input.dtype)
                self.output = _elementwise(np.fmax, input, t, out=out)
        elif self.inplace:
            input[input <= th] = val
            self.output = input
        elif val == 0:
            self.output = input * (input > th)
        else:
            self.output = xp.where(input > th, input, input.dtype.type(val))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        if input.size and cuda.usable(input, gradOutput):  # one element-wise kernel on the GPU
            self.gradInput = cuda_norm.threshold_backward(
                input, gradOutput, self.threshold, self.inplace
            )
            return self.gradInput
        th = self.threshold
        if get_array_module(input) is np and input.dtype.kind == "f":
            # THNN zeroes the gradient where ``input <= th`` (in place) or where not
            # ``input > th`` (they differ on NaN input). Zeroed exactly, as THNN, by
            # and-ing the bits with a mask of all ones or zeros: three streaming passes,
            # where a boolean-mask assignment (``g[mask] = 0``) gathers and is ~10x slower.
            out = self._reused("gradInput", input.shape, gradOutput.dtype)
            self.gradInput = _threshold_grad(input, gradOutput, th, self.inplace, out)
        elif self.inplace:
            gradOutput[input <= th] = 0
            self.gradInput = gradOutput
        else:
            self.gradInput = gradOutput * (input > th)
        return self.gradInput


class ReLU(Threshold):
    """``y = max(0, x)``: ``nn.ReLU(p=False)`` is ``Threshold(0, 0, p)``.

    Shape: any, output as input.
    """

    def __init__(self, p=False):
        super().__init__(0, 0, p)


class Tanh(Module):
    """``y = tanh(x)``. ``nn.Tanh()``. Shape: any."""

    def updateOutput(self, input):
        self._check_input(input)
        self.output = get_array_module(input).tanh(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, self.output.shape)
        self.gradInput = gradOutput * (1 - self.output * self.output)
        return self.gradInput


class Sigmoid(Module):
    """``y = 1 / (1 + exp(-x))``. ``nn.Sigmoid()``. Shape: any."""

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        self.output = (1 + xp.tanh(input * 0.5)) * 0.5  # overflow-free logistic
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, self.output.shape)
        self.gradInput = gradOutput * (1 - self.output) * self.output
        return self.gradInput


def _softmax_axis(x, name):
    """Torch's reduction dim by rank: 1D->1, 2D->2, 3D->1, 4D->2 (1-based)."""
    axis = {1: 0, 2: 1, 3: 0, 4: 1}.get(x.ndim)
    if axis is None:
        raise ValueError(f"{name}: 1D, 2D, 3D or 4D tensor expected, got {_size_desc(x.shape)}")
    return axis


class SoftMax(Module):
    """``y = exp(x - max) / sum(exp(x - max))`` over Torch's dim for the rank.

    ``nn.SoftMax()``. Shape: 1D..4D, normalised over dim 1 (1D, 3D) or 2 (2D, 4D).
    """

    def updateOutput(self, input):
        self._check_input(input)
        axis = _softmax_axis(input, self._name())
        xp = get_array_module(input)
        e = xp.exp(input - input.max(axis=axis, keepdims=True))
        self.output = e / e.sum(axis=axis, keepdims=True)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, input.shape)
        axis = _softmax_axis(input, self._name())
        y = self.output
        self.gradInput = y * (gradOutput - (gradOutput * y).sum(axis=axis, keepdims=True))
        return self.gradInput


class LogSoftMax(Module):
    """``y = x - max - log(sum(exp(x - max)))`` over Torch's dim for the rank.

    ``nn.LogSoftMax()``. Shape: as SoftMax.
    """

    def updateOutput(self, input):
        self._check_input(input)
        axis = _softmax_axis(input, self._name())
        xp = get_array_module(input)
        shifted = input - input.max(axis=axis, keepdims=True)
        self.output = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_grad(gradOutput, input.shape)
        axis = _softmax_axis(input, self._name())
        xp = get_array_module(input)
        self.gradInput = gradOutput - xp.exp(self.output) * gradOutput.sum(axis=axis, keepdims=True)
        return self.gradInput


def _num(v):
    """Lua's tostring of a number: integers without decimals, else %.14g."""
    return str(int(v)) if float(v).is_integer() else f"{v:.14g}"


def _check_inplace_flag(ip):
    if not isinstance(ip, bool):
        raise TypeError("in-place flag must be boolean")


def _c(x, v):
    """The number ``v`` as a scalar of ``x``'s dtype (float32 stays float32)."""
    return x.dtype.type(v)


class HardTanh(Module):
    """``y = min_val`` below ``min_val``, ``max_val`` above ``max_val``, else ``x``.

    ``nn.HardTanh(min_value=-1, max_value=1, inplace=False)``; the gradient is zero
    where ``x <= min_val`` or ``x >= max_val``. Shape: any, output as input.
    """

    def __init__(self, min_value=-1, max_value=1, inplace=False):
        super().__init__()
        if not max_value > min_value:
            raise ValueError("max_value must be larger than min_value")
        _check_inplace_flag(inplace)
        self.min_val, self.max_val, self.inplace = min_value, max_value, inplace

    def _after_load(self):
        # older nn's HardTanh was fixed to [-1, 1] and had no in-place flag
        for k, v in (("min_val", -1), ("max_val", 1), ("inplace", False)):
            self.__dict__.setdefault(k, v)

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        lo, hi = _c(input, self.min_val), _c(input, self.max_val)
        if self.inplace:
            xp.clip(input, lo, hi, out=input)
            self.output = input
        else:
            self.output = xp.clip(input, lo, hi)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        dead = (input <= self.min_val) | (input >= self.max_val)
        if self.inplace:
            gradOutput[dead] = 0
            self.gradInput = gradOutput
        else:
            self.gradInput = gradOutput * ~dead
        return self.gradInput


class Clamp(HardTanh):
    """``y = clamp(x, min_value, max_value)``: ``nn.Clamp(min_value, max_value)`` is
    ``HardTanh(min_value, max_value)``. Shape: any, output as input."""

    def __init__(self, min_value=-1, max_value=1):
        super().__init__(min_value, max_value)


class ReLU6(Module):
    """``y = min(max(0, x), 6)``. ``nn.ReLU6(inplace=False)``; the gradient passes
    only where ``0 < x < 6``. Shape: any, output as input."""

    def __init__(self, inplace=False):
        super().__init__()
        _check_inplace_flag(inplace)
        self.inplace = inplace

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        if self.inplace:
            xp.clip(input, _c(input, 0), _c(input, 6), out=input)
            self.output = input
        else:
            self.output = xp.clip(input, _c(input, 0), _c(input, 6))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        live = (input > 0) & (input < 6)
        if self.inplace:
            gradOutput[~live] = 0
            self.gradInput = gradOutput
        else:
            self.gradInput = gradOutput * live
        return self.gradInput


class LeakyReLU(Module):
    """``y = x`` for ``x > 0``, else ``negval * x``.

    ``nn.LeakyReLU(negval=1/100, ip=False)``. Shape: any, output as input.
    """

    def __init__(self, negval=1 / 100, ip=False):
        super().__init__()
        if not isinstance(negval, (int, float)) or isinstance(negval, bool):
            raise TypeError("nn.LeakyReLU(value)")
        _check_inplace_flag(ip)
        self.negval, self.inplace = negval, ip

    def _after_load(self):
        self.__dict__.setdefault("inplace", False)  # older nn had no in-place flag

    def updateOutput(self, input):
        self._check_input(input)
        neg = input <= 0
        if self.inplace:
            input[neg] *= _c(input, self.negval)
            self.output = input
        else:
            xp = get_array_module(input)
            self.output = xp.where(neg, input * _c(input, self.negval), input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        neg = input <= 0
        if self.inplace:
            gradOutput[neg] *= _c(gradOutput, self.negval)
            self.gradInput = gradOutput
        else:
            xp = get_array_module(input)
            self.gradInput = xp.where(neg, gradOutput * _c(gradOutput, self.negval), gradOutput)
        return self.gradInput

    def __tostring__(self):
        return f"{self._name()}({self.negval:g})"


class ELU(Module):
    """``y = x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    ``nn.ELU(alpha=1, inplace=False)``; the gradient is taken from the output, as
    THNN's: ``gradOutput * (y + alpha)`` where ``y <= 0``. Shape: any.
    """

    def __init__(self, alpha=1, inplace=False):
        super().__init__()
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise TypeError("nn.ELU(alpha): alpha must be a number")
        _check_inplace_flag(inplace)
        self.alpha, self.inplace = alpha, inplace

    def _after_load(self):
        self.__dict__.setdefault("inplace", False)  # older nn had no in-place flag

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        neg = input <= 0
        a = _c(input, self.alpha)
        if self.inplace:
            input[neg] = (xp.exp(input[neg]) - 1) * a
            self.output = input
        else:
            self.output = xp.where(neg, (xp.exp(input) - 1) * a, input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, self.output.shape)
        xp = get_array_module(input)
        y = self.output
        neg = y <= 0
        a = _c(y, self.alpha)
        if self.inplace:
            gradOutput[neg] *= y[neg] + a
            self.gradInput = gradOutput
        else:
            self.gradInput = xp.where(neg, gradOutput * (y + a), gradOutput)
        return self.gradInput

    def __tostring__(self):
        return f"{self._name()} (alpha:{self.alpha:f})"


class SoftPlus(Module):
    """``y = log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    ``nn.SoftPlus(beta=1, threshold=20)``. Shape: any, output as input.
    """

    def __init__(self, beta=1, threshold=20):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        b = _c(input, self.beta)
        bx = input * b
        with np.errstate(over="ignore"):
            soft = xp.log1p(xp.exp(bx)) / b
        self.output = xp.where(bx > self.threshold, input, soft)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        xp = get_array_module(input)
        by = self.output * _c(input, self.beta)
        with np.errstate(over="ignore", invalid="ignore"):
            z = xp.exp(by)
            soft = gradOutput * (z - 1) / z
        self.gradInput = xp.where(by > self.threshold, gradOutput, soft)
        return self.gradInput


class SoftSign(Module):
    """``y = x / (1 + |x|)``. ``nn.SoftSign()``. Shape: any, output as input."""

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        self.temp = xp.abs(input) + 1
        self.output = input / self.temp
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        xp = get_array_module(input)
        d = xp.abs(input) + 1
        self.tempgrad = d * d
        self.gradInput = gradOutput / self.tempgrad
        return self.gradInput

    def clearState(self):
        self._clear("temp", "tempgrad")
        return super().clearState()


class LogSigmoid(Module):
    """``y = log(1 / (1 + exp(-x)))``, computed without overflow.

    ``nn.LogSigmoid()``; ``buffer`` keeps ``exp(-m) + exp(-x - m)``, ``m = max(0, -x)``,
    as THNN's. Shape: any, output as input.
    """

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        m = xp.maximum(-input, _c(input, 0))
        self.buffer = xp.exp(-m) + xp.exp(-input - m)
        self.output = -(m + xp.log(self.buffer))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        xp = get_array_module(input)
        z = self.buffer
        neg = input < 0
        frac = (z - 1) / z
        self.gradInput = gradOutput * xp.where(neg, 1 - frac, frac)
        return self.gradInput

    def clearState(self):
        self._clear("buffer")
        return super().clearState()
