"""Modules on tables (Python lists) of arrays: element-wise arithmetic, join and split,
mixtures (spec 2.25, 2.26). Routing modules (SelectTable, MapTable, ...) are in
``table_routing.py``."""

from __future__ import annotations

import math

from . import backend as B
from .module import Module, _size_desc

__all__ = [
    "CAddTable",
    "CSubTable",
    "CMulTable",
    "CDivTable",
    "CMaxTable",
    "CMinTable",
    "CAddTensorTable",
    "JoinTable",
    "SplitTable",
    "MixtureTable",
]


def is_table(x) -> bool:
    """A Lua table as nnlegacy holds one: a list (or tuple)."""
    return isinstance(x, (list, tuple))


def check_table(module, input, what="input", min_len=1):
    """``input`` must be a list of at least ``min_len`` arrays of the module's type."""
    if not is_table(input) or len(input) < min_len:
        raise TypeError(
            f"{module._name()}: expected {what} as a table (list) of at least {min_len} "
            f"array(s), got {_what(input)}"
        )
    for i, x in enumerate(input):
        if is_table(x):
            check_table(module, x, f"{what}[{i + 1}]", 0)
        else:
            module._check_input(x, f"{what}[{i + 1}]")


def _what(x) -> str:
    if is_table(x):
        return f"a table of {len(x)}"
    if B.is_array(x):
        return f"an array of shape {_size_desc(x.shape)}"
    return type(x).__name__


class _Elementwise(Module):
    """Base of the element-wise table arithmetic: every input has input[1]'s number of
    elements (TH checks only that) and the output has input[1]'s shape."""

    _min_inputs = 1

    def __init__(self):
        super().__init__()
        self.gradInput = []

    def _check(self, input, gradOutput=None):
        check_table(self, input, min_len=self._min_inputs)
        for i, x in enumerate(input):
            if is_table(x) or x.size != input[0].size:
                raise ValueError(
                    f"{self._name()}: input[{i + 1}] of shape {_what(x)} does not "
                    f"match input[1] of shape {_size_desc(input[0].shape)}"
                )
        if gradOutput is not None:
            self._check_input(gradOutput, "gradOutput")
            if gradOutput.size != input[0].size:
                raise ValueError(
                    f"{self._name()}: expected gradOutput of shape "
                    f"{_size_desc(input[0].shape)}, got {_size_desc(gradOutput.shape)}"
                )
            gradOutput = gradOutput.reshape(input[0].shape)
        return [x.reshape(input[0].shape) for x in input], gradOutput


class CAddTable(_Elementwise):
    """The element-wise sum of a list of arrays.

    ``nn.CAddTable(ip=False)``; with ``ip`` the sum is accumulated into ``input[1]``
    and every gradInput is gradOutput itself. Shape: ``[x_1, ..., x_n]`` -> shape of x_1.
    """

    def __init__(self, ip=False):
        super().__init__()
        self.inplace = ip

    def updateOutput(self, input):
        xs, _ = self._check(input)
        out = input[0] if self.inplace else input[0].copy()
        for x in xs[1:]:
            out += x
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        self._check(input, gradOutput)
        if self.inplace:
            self.gradInput = [gradOutput for _ in input]
        else:
            self.gradInput = [gradOutput.reshape(x.shape).copy() for x in input]
        return self.gradInput


class CSubTable(_Elementwise):
    """``input[1] - input[2]``.

    ``nn.CSubTable()``. Shape: ``[x, y]`` -> shape of x; gradInput ``[g, -g]``.
    """

    _min_inputs = 2

    def updateOutput(self, input):
        xs, _ = self._check(input)
        self.output = xs[0] - xs[1]
        return self.output

    def updateGradInput(self, input, gradOutput):
        _, g = self._check(input, gradOutput)
        self.gradInput = [g.reshape(input[0].shape).copy(), (-g).reshape(input[1].shape)]
        return self.gradInput


class CMulTable(_Elementwise):
    """The element-wise product of a list of arrays.

    ``nn.CMulTable()``. Shape: ``[x_1, ..., x_n]`` -> shape of x_1; gradInput[i] is
    gradOutput times the product of the other inputs (no division, zeros are safe).
    """

    def updateOutput(self, input):
        xs, _ = self._check(input)
        out = xs[0].copy()
        for x in xs[1:]:
            out *= x
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        xs, g = self._check(input, gradOutput)
        grads = []
        for i in range(len(xs)):
            gi = g.copy()
            for j, x in enumerate(xs):
                if j != i:
                    gi *= x
            grads.append(gi.reshape(input[i].shape))
        self.gradInput = grads
        return grads


class CDivTable(_Elementwise):
    """``input[1] / input[2]``, element-wise.

    ``nn.CDivTable()``. Shape: ``[x, y]`` -> shape of x.
    """

    _min_inputs = 2

    def updateOutput(self, input):
        xs, _ = self._check(input)
        self.output = xs[0] / xs[1]
        return self.output

    def updateGradInput(self, input, gradOutput):
        xs, g = self._check(input, gradOutput)
        g1 = g / xs[1]
        g2 = -g1 / xs[1] * xs[0]
        self.gradInput = [g1.reshape(input[0].shape), g2.reshape(input[1].shape)]
        return self.gradInput


class CMaxTable(_Elementwise):
    """The element-wise maximum of a list of arrays.

    ``nn.CMaxTable()``. Shape: ``[x_1, ..., x_n]`` -> shape of x_1. ``maxIdx`` holds the
    1-based index of the winning input (the first one on ties); the gradient goes to it.
    """

    _idx = "maxIdx"

    def _better(self, x, best):
        return x > best

    def updateOutput(self, input):
        xs, _ = self._check(input)
        xp = B.get_array_module(xs[0])
        out = xs[0].copy()
        idx = xp.ones(out.shape, out.dtype)
        for i, x in enumerate(xs[1:], 2):
            mask = self._better(x, out)
            idx[mask] = i
            out[mask] = x[mask]
        setattr(self, self._idx, idx)
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        _, g = self._check(input, gradOutput)
        xp = B.get_array_module(g)
        idx = getattr(self, self._idx)
        self.gradInput = [
            xp.where(idx == i, g, 0).astype(g.dtype).reshape(x.shape)
            for i, x in enumerate(input, 1)
        ]
        return self.gradInput


class CMinTable(CMaxTable):
    """The element-wise minimum of a list of arrays.

    ``nn.CMinTable()``. As CMaxTable, with ``minIdx``.
    """

    _idx = "minIdx"

    def _better(self, x, best):
        return x < best


class CAddTensorTable(Module):
    """Adds the array ``input[1]`` to every array of the table ``input[2]``.

    ``nn.CAddTensorTable()``. Shape: ``[v, [x_1, ..., x_n]]`` -> ``[x_1 + v, ..., x_n + v]``.
    """

    def __init__(self):
        super().__init__()
        self.output = []
        self.gradInput = []

    def _check(self, input):
        check_table(self, input, min_len=2)
        if is_table(input[0]) or not is_table(input[1]):
            raise TypeError(f"{self._name()}: expected input {{array, table of arrays}}")
        for i, x in enumerate(input[1]):
            if x.size != input[0].size:
                raise ValueError(
                    f"{self._name()}: input[2][{i + 1}] of shape {_size_desc(x.shape)} does "
                    f"not match input[1] of shape {_size_desc(input[0].shape)}"
                )

    def updateOutput(self, input):
        self._check(input)
        v = input[0]
        self.output = [x + v.reshape(x.shape) for x in input[1]]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        check_table(self, gradOutput, "gradOutput", len(input[1]))
        v = input[0]
        g = gradOutput[0].reshape(v.shape).copy()
        for go in gradOutput[1 : len(input[1])]:
            g += go.reshape(v.shape)
        self.gradInput = [g, [go.reshape(v.shape).copy() for go in gradOutput[: len(input[1])]]]
        return self.gradInput


def _positive_dim(module, input):
    """SplitTable/JoinTable's dimension: negative from the end; with ``nInputDims``, one
    more when the input has one more dim (a batch)."""
    dim = module.dimension
    if dim < 0:
        dim = input.ndim + dim + 1
    elif module.nInputDims is not None and input.ndim == module.nInputDims + 1:
        dim += 1
    if not 1 <= dim <= input.ndim:
        raise ValueError(
            f"{module._name()}: dimension {dim} out of range for a "
            f"{input.ndim}D input of shape {_size_desc(input.shape)}"
        )
    return dim - 1


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
        check_table(self, input)
        for i, x in enumerate(input):
            if is_table(x):
                raise TypeError(f"{self._name()}: input[{i + 1}] is a table, expected an array")
        return _positive_dim(self, input[0])

    def updateOutput(self, input):
        ax = self._axis(input)
        xp = B.get_array_module(input[0])
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


class SplitTable(Module):
    """Splits an array into the list of its slices along ``dimension`` (1-based).

    ``nn.SplitTable(dimension, nInputDims=None)``: negative dimensions count from the
    end; with ``nInputDims``, an input with one more dim is a batch and the split moves
    one dim right. Shape: ``d_1 x ... x d_n`` -> ``size(dimension)`` arrays without it.
    The outputs are views of the input, as Lua's ``select``.
    """

    def __init__(self, dimension: int, nInputDims: int | None = None):
        super().__init__()
        self.dimension, self.nInputDims = dimension, nInputDims
        self.output = []

    def _after_load(self):
        self.__dict__.setdefault("nInputDims", None)  # Lua omits a nil field

    def _axis(self, input):
        if is_table(input) or not B.is_array(input):
            raise TypeError(f"{self._name()}: expected an array, got {_what(input)}")
        self._check_input(input)
        return _positive_dim(self, input)

    def updateOutput(self, input):
        ax = self._axis(input)
        self.output = [_select(input, ax, i) for i in range(input.shape[ax])]
        return self.output

    def updateGradInput(self, input, gradOutput):
        ax = self._axis(input)
        n = input.shape[ax]
        check_table(self, gradOutput, "gradOutput", n)
        xp = B.get_array_module(input)
        self.gradInput = xp.stack([g.reshape(_select(input, ax, 0).shape)
                                   for g in gradOutput[:n]], axis=ax)  # fmt: skip
        return self.gradInput


def _select(x, ax, i):
    sl = [slice(None)] * x.ndim
    sl[ax] = i
    return x[tuple(sl)]


class MixtureTable(Module):
    """A mixture of experts: ``sum_i gater[i] * expert_i``.

    ``nn.MixtureTable(dim=None)``; input ``{gater, experts}`` where gater is ``B x n``
    (or ``n``) and experts a table of n arrays, or one array with the experts along
    ``dim`` (default 2, or 1 without a batch). Shape: the shape of one expert.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim
        self.batchSize = 0
        self.backwardSetup = False
        self.gradInput = []

    def _after_load(self):
        self.__dict__.setdefault("dim", None)  # Lua omits a nil field

    def _gates(self, input):
        """(gater, experts, gate view of gater that broadcasts against the experts)."""
        check_table(self, input, min_len=2)
        gater, experts = input[0], input[1]
        if is_table(gater):
            raise TypeError(f"{self._name()}: the gater input[1] must be an array")
        self.dimG = 2
        if gater.ndim < 2:
            self.dimG = 1
            self.dim = self.dim or 1
        self.dim = self.dim or 2
        self.batchSize = gater.shape[0] if self.dimG == 2 else 1
        n = gater.shape[self.dimG - 1]
        if getattr(self, "table", None) or is_table(experts):
            self.table = True
            if not is_table(experts) or n != len(experts):
                raise ValueError("Should be one gater output per expert")
            ndim = experts[0].ndim + 1
        else:
            ndim = experts.ndim
            if not 1 <= self.dim <= ndim or experts.shape[self.dim - 1] != n:
                raise ValueError(
                    f"{self._name()}: experts of shape {_size_desc(experts.shape)} need "
                    f"{n} experts along dimension {self.dim}"
                )
        size = [1] * ndim
        if self.dimG > 1:
            size[0] = gater.shape[0]
        size[self.dim - 1] = n
        return gater, experts, gater.reshape(size)

    def updateOutput(self, input):
        _, experts, gate = self._gates(input)
        if getattr(self, "table", None):
            out = None
            for i, e in enumerate(experts):
                term = e * _select(gate, self.dim - 1, i)
                out = term if out is None else out + term
            self.output = out
        else:
            self.output = (gate * experts).sum(axis=self.dim - 1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        gater, experts, gate = self._gates(input)
        self._check_input(gradOutput, "gradOutput")
        xp = B.get_array_module(gater)
        lead = (gater.shape[0],) if self.dimG > 1 else ()
        if getattr(self, "table", None):
            ggater = xp.empty(gater.shape, gater.dtype)
            gexperts = []
            for i, e in enumerate(experts):
                prod = (gradOutput * e).reshape(*lead, -1)
                _select_set(ggater, self.dimG - 1, i, prod.sum(axis=-1))
                gexperts.append(_select(gate, self.dim - 1, i) * gradOutput)
        else:
            go = xp.expand_dims(gradOutput, self.dim - 1)
            prod = xp.moveaxis(go * experts, self.dim - 1, len(lead))
            ggater = prod.reshape(*lead, gater.shape[self.dimG - 1], -1).sum(axis=-1)
            gexperts = gate * go
        self.gradInput = [ggater, gexperts]
        return self.gradInput


def _select_set(x, ax, i, value):
    sl = [slice(None)] * x.ndim
    sl[ax] = i
    x[tuple(sl)] = value
