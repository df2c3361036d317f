"""Linear (spec section 2.1)."""

from __future__ import annotations

from . import backend as B
from .module import Module, _size_desc, _WeightBias

__all__ = ["Linear"]


class Linear(_WeightBias, Module):
    """A fully connected layer, ``y = W x + b``.

    ``nn.Linear(inputSize, outputSize, bias=True)``.
    Shape: ``(in)`` -> ``(out)``, ``(N, in)`` -> ``(N, out)``; ``weight`` is ``out x in``.
    """

    def __init__(self, inputSize: int, outputSize: int, bias=True):
        super().__init__()
        self.weight = self._zeros(outputSize, inputSize)
        self.gradWeight = self._zeros(outputSize, inputSize)
        if bias:
            self.bias = self._zeros(outputSize)
            self.gradBias = self._zeros(outputSize)
        else:
            self.bias = self.gradBias = None
        self.reset()

    def _fan_in(self):
        return self.weight.shape[1]

    def _check(self, input):
        self._check_input(input)
        n_out, n_in = self.weight.shape
        if input.ndim == 1:
            if input.shape[0] != n_in:
                raise ValueError(
                    f"size mismatch, [{n_out} x {n_in}], [{input.shape[0]}] "
                    f"(nn.Linear expects {n_in} inputs)"
                )
        elif input.ndim == 2:
            if input.shape[1] != n_in:
                raise ValueError(
                    f"size mismatch, m1: [{input.shape[0]} x {input.shape[1]}], "
                    f"m2: [{n_in} x {n_out}] (nn.Linear expects {n_in} inputs)"
                )
        else:
            raise ValueError(f"input must be vector or matrix, got {_size_desc(input.shape)}")

    def updateOutput(self, input):
        self._check(input)
        out = input @ self.weight.T
        if self.bias is not None:
            out += self.bias
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        if self.gradInput is None:
            return None
        self._check(input)
        self._check_grad(gradOutput, input.shape[:-1] + (self.weight.shape[0],))
        self.gradInput = gradOutput @ self.weight
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._check(input)
        self._check_grad(gradOutput, input.shape[:-1] + (self.weight.shape[0],))
        xp = B.get_array_module(input)
        if input.ndim == 1:
            gw = xp.outer(gradOutput, input)
            gb = gradOutput
        else:
            gw = gradOutput.T @ input
            gb = gradOutput.sum(axis=0)
        if scale != 1:
            gw = gw * scale
            gb = gb * scale
        self.gradWeight += gw
        if self.bias is not None:
            self.gradBias += gb

    def sharedAccUpdateGradParameters(self, input, gradOutput, lr):
        # Linear.lua: the default path works for shared modules too
        self.defaultAccUpdateGradParameters(input, gradOutput, lr)

    def clearState(self):
        self._clear("addBuffer")
        return super().clearState()

    def __tostring__(self):
        s = f"{self._name()}({self.weight.shape[1]} -> {self.weight.shape[0]})"
        return s + (" without bias" if self.bias is None else "")
