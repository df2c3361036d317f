"""Threshold, ReLU, Tanh, Sigmoid, SoftMax, LogSoftMax (spec sections 2.9-2.12)."""

from __future__ import annotations

from .backend import get_array_module
from .module import Module, _size_desc

__all__ = ["Threshold", "ReLU", "Tanh", "Sigmoid", "SoftMax", "LogSoftMax"]


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
        if self.inplace:
            input[input <= self.threshold] = self.val
            self.output = input
        elif self.val == 0:
            self.output = input * (input > self.threshold)
        else:
            self.output = xp.where(input > self.threshold, input, input.dtype.type(self.val))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        self._check_grad(gradOutput, input.shape)
        if self.inplace:
            gradOutput[input <= self.threshold] = 0
            self.gradInput = gradOutput
        else:
            self.gradInput = gradOutput * (input > self.threshold)
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
