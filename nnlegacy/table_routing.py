"""Modules that route tables (Python lists) without arithmetic: SelectTable, NarrowTable,
FlattenTable, ZipTable, ZipTableOneToMany, MapTable, CriterionTable."""

from __future__ import annotations

from . import backend as B
from .containers import Container
from .module import Module
from .table import _what, check_table, is_table

__all__ = [
    "SelectTable",
    "NarrowTable",
    "FlattenTable",
    "ZipTable",
    "ZipTableOneToMany",
    "MapTable",
    "CriterionTable",
]


def zeros_like_nested(x):
    """Zeros shaped as ``x``: an array, or a (nested) list of arrays."""
    if is_table(x):
        return [zeros_like_nested(v) for v in x]
    return B.get_array_module(x).zeros(x.shape, x.dtype)


def copy_nested(x):
    if is_table(x):
        return [copy_nested(v) for v in x]
    return x.copy()


class SelectTable(Module):
    """Element ``index`` (1-based; negative counts from the end) of the input table.

    ``nn.SelectTable(index)``. Shape: ``[x_1, ..., x_n]`` -> ``x_index`` (an array or a
    table); gradInput is zeros shaped as the input with gradOutput at ``index``.
    """

    def __init__(self, index: int):
        super().__init__()
        self.index = index
        self.gradInput = []

    def _pos(self, input):
        check_table(self, input, min_len=0)
        i = len(input) + self.index + 1 if self.index < 0 else self.index
        if not 1 <= i <= len(input):
            raise IndexError(
                f"{self._name()}: index does not exist in the input table "
                f"(index {self.index}, table of {len(input)})"
            )
        return i - 1

    def updateOutput(self, input):
        self.output = input[self._pos(input)]
        return self.output

    def updateGradInput(self, input, gradOutput):
        i = self._pos(input)
        grads = zeros_like_nested(list(input))
        grads[i] = copy_nested(gradOutput)
        self.gradInput = grads
        return grads

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is not None:
            self.output, self.gradInput = [], []
        return super().type(type, tensorCache)

    def __tostring__(self):
        return f"{self._name()}({self.index})"


class NarrowTable(Module):
    """The ``length`` elements of the input table from ``offset`` (1-based).

    ``nn.NarrowTable(offset, length=1)``. Shape: ``[x_1, ..., x_n]`` ->
    ``[x_offset, ..., x_(offset+length-1)]``; gradInput is zeros outside the window.
    """

    def __init__(self, offset: int, length: int = 1):
        super().__init__()
        self.offset, self.length = offset, length
        self.output, self.gradInput = [], []

    def updateOutput(self, input):
        check_table(self, input, min_len=0)
        out = []
        for i in range(1, self.length + 1):
            j = self.offset + i - 1
            if not 1 <= j <= len(input):
                break  # Lua's table stops at the first nil
            out.append(input[j - 1])
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        check_table(self, input, min_len=0)
        check_table(self, gradOutput, "gradOutput", min_len=0)
        grads = {}
        for i, g in enumerate(gradOutput, 1):
            grads[self.offset + i - 1] = g
        for i in range(1, len(input) + 1):
            if i < self.offset or i >= self.offset + self.length:
                grads[i] = zeros_like_nested(input[i - 1])
        missing = [i for i in range(1, len(input) + 1) if i not in grads]
        if missing:
            raise ValueError(
                f"{self._name()}: gradOutput has {len(gradOutput)} entries, expected "
                f"{len(self.output)}"
            )
        self.gradInput = [grads[i] for i in range(1, len(input) + 1)]
        return self.gradInput

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is not None:
            self.output, self.gradInput = [], []
        return super().type(type, tensorCache)


def _flatten(output, x):
    """Append the arrays of nested table ``x`` to ``output``; the map of 1-based places."""
    if is_table(x):
        return [_flatten(output, v) for v in x]
    output.append(x)
    return len(output)


def _unflatten(flat, input_map):
    if isinstance(input_map, list):
        return [_unflatten(flat, m) for m in input_map]
    return flat[input_map - 1]


class FlattenTable(Module):
    """Flattens a nested table of arrays into one table, in depth-first order.

    ``nn.FlattenTable()``. Shape: ``[x, [y, [z]], w]`` -> ``[x, y, z, w]``;
    ``input_map`` keeps each array's 1-based place in the output.
    """

    def __init__(self):
        super().__init__()
        self.output, self.input_map, self.gradInput = [], [], []

    def updateOutput(self, input):
        if not is_table(input):
            raise TypeError(f"{self._name()}: input must be a table, got {_what(input)}")
        check_table(self, input, min_len=0)
        out = []
        self.input_map = _flatten(out, input)
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        if not is_table(input):
            raise TypeError(f"{self._name()}: input must be a table, got {_what(input)}")
        n = len(self.output)
        if not is_table(gradOutput) or len(gradOutput) < n:
            raise ValueError(
                f"{self._name()}: expected gradOutput as a table of {n}, got {_what(gradOutput)}"
            )
        self.gradInput = _unflatten(gradOutput, self.input_map)
        return self.gradInput

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is None:
            return self._type
        self.clearState()
        return super().type(type, tensorCache)

    def clearState(self):
        self.input_map = []
        return super().clearState()


class ZipTable(Module):
    """Zips a table of tables: ``[[a1, a2], [b1, b2]]`` -> ``[[a1, b1], [a2, b2]]``.

    ``nn.ZipTable()``. The outputs are the input arrays themselves.
    """

    def __init__(self):
        super().__init__()
        self.output, self.gradInput = [], []

    @staticmethod
    def _zip(tables):
        out = []
        for i, t in enumerate(tables):
            for j, x in enumerate(t):
                while len(out) <= j:
                    out.append([])
                row = out[j]
                while len(row) < i:
                    row.append(None)
                row.append(x)
        return out

    def _check(self, t, what):
        if not is_table(t) or not all(is_table(x) for x in t):
            raise TypeError(f"{self._name()}: expected {what} as a table of tables")

    def updateOutput(self, input):
        self._check(input, "input")
        self.output = self._zip(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(gradOutput, "gradOutput")
        self.gradInput = self._zip(gradOutput)
        return self.gradInput


class ZipTableOneToMany(Module):
    """Pairs one element with each element of a table: ``[v, [a, b]]`` -> ``[[v, a], [v, b]]``.

    ``nn.ZipTableOneToMany()``. gradInput ``[sum of the v gradients, [the others]]``.
    """

    def __init__(self):
        super().__init__()
        self.output, self.gradInput = [], []

    def _check(self, input):
        if not is_table(input) or len(input) != 2 or not is_table(input[1]):
            raise TypeError(
                f"{self._name()}: input must be table of element and table, got {_what(input)}"
            )

    def updateOutput(self, input):
        self._check(input)
        el, tab = input
        self.output = [[el, v] for v in tab]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        el = input[0]
        g = zeros_like_nested(el)
        rest = []
        for pair in gradOutput:
            if is_table(g):
                g = _add_nested(g, pair[0])
            else:
                g += pair[0]
            rest.append(pair[1])
        self.gradInputEl = g
        self.gradInput = [g, rest]
        return self.gradInput


def _add_nested(acc, x):
    if is_table(acc):
        return [_add_nested(a, b) for a, b in zip(acc, x)]
    acc += x
    return acc


class MapTable(Container):
    """Applies one module to every element of the input table, through clones that
    share ``weight``, ``bias``, ``gradWeight`` and ``gradBias``.

    ``nn.MapTable(module)``. Shape: ``[x_1, ..., x_n]`` -> ``[m(x_1), ..., m(x_n)]``.
    Differences from Torch7: a MapTable read from a file drops its clones, as
    ``clearState`` does (``parameters()`` then lists the module's own); the next forward
    makes them again, sharing the parameters.
    """

    def __init__(self, module=None, shared=True):
        super().__init__()
        self.shared = True  # Lua: ``shared or true``
        self.sharedparams = ["weight", "bias", "gradWeight", "gradBias"]
        self.output, self.gradInput = [], []
        self.module = None
        if module is not None:
            self.add(module)

    def _after_load(self):
        if isinstance(self.__dict__.get("sharedparams"), dict):
            self.sharedparams = list(self.sharedparams.values())
        if self.__dict__.get("module") is not None:
            self.modules = [self.module]

    def add(self, module):
        if self.module is not None:
            raise ValueError("Single module required")
        self.module = module
        self.modules = [module]
        return self

    def _extend(self, n):
        if not self.modules:
            self.modules = [self.module]
        self.modules[0] = self.module
        while len(self.modules) < n:
            self.modules.append(self.module.clone(*self.sharedparams))

    def resize(self, n):
        self._extend(n)
        for m in self.modules[n:]:
            m.clearState()
        del self.modules[n:]
        return self

    def _check(self, input, what="input"):
        if not is_table(input):
            raise TypeError(f"{self._name()}: expected {what} as a table, got {_what(input)}")

    def updateOutput(self, input):
        self._check(input)
        self._extend(len(input))
        self.output = [self._rethrow(i, "updateOutput", x) for i, x in enumerate(input)]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        self._check(gradOutput, "gradOutput")
        self._extend(len(input))
        self.gradInput = [
            self._rethrow(i, "updateGradInput", x, gradOutput[i]) for i, x in enumerate(input)
        ]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        self._extend(len(input))
        for i, x in enumerate(input):
            self._rethrow(i, "accGradParameters", x, gradOutput[i], scale)

    def accUpdateGradParameters(self, input, gradOutput, lr=1):
        self._extend(len(input))
        for i, x in enumerate(input):
            self._rethrow(i, "accUpdateGradParameters", x, gradOutput[i], lr)

    def zeroGradParameters(self):
        if self.module is not None:
            self.module.zeroGradParameters()

    def updateParameters(self, learningRate):
        if self.module is not None:
            self.module.updateParameters(learningRate)

    def clearState(self):
        for m in self.modules[1:]:
            m.clearState()
        del self.modules[1:]
        return super().clearState()

    def __tostring__(self):
        if self.module is None:
            return self._name() + " { }"
        text = str(self.module).replace("\n", "\n  " + "      ")
        return self._name() + " {\n  " + text + "\n}"


class CriterionTable(Module):
    """Wraps a criterion as a module taking ``{input, target}``.

    ``nn.CriterionTable(criterion)``. Shape: ``[input, target]`` -> the loss (a number);
    gradInput is ``[dloss/dinput]``; gradOutput is ignored.
    """

    def __init__(self, criterion):
        super().__init__()
        self.criterion = criterion
        self.gradInput = [criterion.gradInput]

    def _check(self, input):
        if not is_table(input) or len(input) < 2:
            raise TypeError(f"{self._name()}: expected input {{input, target}}, got {_what(input)}")

    def updateOutput(self, input):
        self._check(input)
        self.output = self.criterion.updateOutput(*input)
        return self.output

    def updateGradInput(self, input, gradOutput=None):
        self._check(input)
        self.criterion.updateGradInput(*input)
        self.gradInput = [self.criterion.gradInput]
        return self.gradInput
