"""Modules on tables (Python lists) of arrays: CAddTable, JoinTable (spec 2.25, 2.26)."""

from __future__ import annotations

import math

from .backend import get_array_module
from .module import Module, _size_desc

__all__ = ["CAddTable", "JoinTable"]


class CAddTable(Module):
    """The element-wise sum of a list of arrays.

    ``nn.CAddTable(ip=False)``; with ``ip`` the sum is accumulated into ``input[0]``
    and every gradInput is gradOutput itself. Shape: ``[x_1, ..., x_n]`` -> shape of x_1.
    """

    def __init__(self, ip=False):
        super().__init__()
        self.inplace = ip
        self.gradInput = []

    def _check(self, input):
        if not isinstance(input, (list, tuple)) or not input:
            raise TypeError(f"{self._name()}: expected a non-empty list of arrays")
        for i, x in enumerate(input):
            self._check_input(x, f"input[{i + 1}]")
            if x.size != input[0].size:
                raise ValueError(
                    f"{self._name()}: input[{i + 1}] of shape {_size_desc(x.shape)} does not "
                    f"match input[1] of shape {_size_desc(input[0].shape)}"
                )

    def updateOutput(self, input):
        self._check(input)
        out = input[0] if self.inplace else input[0].copy()
        for x in input[1:]:
            out += x.reshape(out.shape)
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        self._check_grad(gradOutput, input[0].shape)
        if self.inplace:
            self.gradInput = [gradOutput for _ in input]
        else:
            self.gradInput = [gradOutput.reshape(x.shape).copy() for x in input]
        return self.gradInput


class JoinTable(Module):
    """Concatenates a list of arrays along ``dimension`` (1-based).

    ``nn.JoinTable(dimension, nInputDims=None)``: with ``nInputDims``, an input with one
    more dim is a batch and the join moves one dim right; a negative dimension counts
    from the end. Shape: sizes from input[1], ``dimension`` summed.
    """

    def __init__(self, dimension: int, nInputDims: int | None = None):
        super().__init__()
        self.dimension, self.nInputDims = dimension, nInputDims
        self.gradInput = []

    def _axis(self, input):
        if not isinstance(input, (list, tuple)) or not input:
            raise TypeError(f"{self._name()}: expected a non-empty list of arrays")
        for i, x in enumerate(input):
            self._check_input(x, f"input[{i + 1}]")
        ndim = input[0].ndim
        dim = self.dimension
        if dim < 0:
            dim = ndim + dim + 1
        elif self.nInputDims is not None and ndim == self.nInputDims + 1:
            dim += 1
        if not 1 <= dim <= ndim:
            raise ValueError(f"{self._name()}: dimension {dim} out of range for {ndim}D inputs")
        return dim - 1

    def updateOutput(self, input):
        ax = self._axis(input)
        xp = get_array_module(input[0])
        first = input[0].shape
        for x in input[1:]:
            if x.ndim != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, first)) if i != ax
            ):
                # Lua copies each input into its slot of the output: its words
                slot = tuple(x.shape[i] if i == ax else d for i, d in enumerate(first))
                raise ValueError(
                    f"{self._name()}: inconsistent tensor size, expected tensor "
                    f"{_size_desc(slot)} and src {_size_desc(x.shape)} to have the same number "
                    f"of elements, but got {math.prod(slot)} and {x.size} elements respectively "
                    f"(joining along dimension {ax + 1})"
                )
        self.output = xp.concatenate(input, axis=ax)
        return self.output

    def updateGradInput(self, input, gradOutput):
        ax = self._axis(input)
        grads, offset = [], 0
        for x in input:
            sl = [slice(None)] * x.ndim
            sl[ax] = slice(offset, offset + x.shape[ax])
            grads.append(gradOutput[tuple(sl)].copy())
            offset += x.shape[ax]
        self.gradInput = grads
        return grads

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is not None:
            self.gradInput = []
        return super().type(type, tensorCache)
