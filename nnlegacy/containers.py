"""Containers (spec 1.7, 2.20-2.24): Sequential, Concat, DepthConcat, ConcatTable, ParallelTable."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .module import Module

__all__ = [
    "Container",
    "Sequential",
    "Concat",
    "DepthConcat",
    "ConcatTable",
    "ParallelTable",
    "Parallel",
]


class Container(Module):
    """A module made of child modules, held in the Python list ``modules``.

    ``get(i)`` is 1-based as in Lua; ``modules`` is a plain list (0-based).
    """

    def __init__(self, *args):
        super().__init__()
        self.modules = []

    def add(self, module):
        self.modules.append(module)
        return self

    def get(self, index):
        """The ``index``-th child, 1-based as Lua's ``container:get(i)``."""
        if 1 <= index <= len(self.modules):
            return self.modules[index - 1]
        return None

    def size(self):
        return len(self.modules)

    def __len__(self):
        return len(self.modules)

    def applyToModules(self, func):
        for m in self.modules:
            func(m)

    def _rethrow(self, i, method, *args):
        """Call ``method`` on child i (0-based), prefixing errors as Lua's rethrowErrors."""
        try:
            return getattr(self.modules[i], method)(*args)
        except Exception as e:
            msg = f"In {i + 1} module of {self._name()}:"
            text = str(e.args[0]) if len(e.args) == 1 else str(e)
            new = _same_kind(e, f"{msg}\n{text}")
            raise new from e

    def zeroGradParameters(self):
        for m in self.modules:
            m.zeroGradParameters()

    def updateParameters(self, learningRate):
        for m in self.modules:
            m.updateParameters(learningRate)

    def training(self):
        for m in self.modules:
            m.training()
        return super().training()

    def evaluate(self):
        for m in self.modules:
            m.evaluate()
        return super().evaluate()

    def share(self, mlp, *names):
        for m, other in zip(self.modules, mlp.modules):
            m.share(other, *names)
        return self

    def reset(self, stdv=None):
        for m in self.modules:
            m.reset(stdv)
        return self

    def _parameter_slots(self):
        slots = []
        for m in self.modules:
            slots.extend(m._parameter_slots())
        return slots

    def parameters(self):
        slots = self._parameter_slots()
        return [getattr(m, p) for m, p, _ in slots], [getattr(m, g) for m, _, g in slots]

    def clearState(self):
        super().clearState()
        for m in self.modules:
            m.clearState()
        return self


def _same_kind(e, message):
    try:
        return type(e)(message)
    except Exception:
        return RuntimeError(message)


class Sequential(Container):
    """Children applied one after another.

    ``nn.Sequential()``; ``add`` returns self; ``insert(m, index)`` and
    ``remove(index)`` are 1-based.
    """

    def add(self, module):
        if not self.modules:
            self.gradInput = module.gradInput
        self.modules.append(module)
        self.output = module.output
        return self

    def insert(self, module, index=None):
        index = len(self.modules) + 1 if index is None else index
        if not 1 <= index <= len(self.modules) + 1:
            raise IndexError("index should be contiguous to existing modules")
        self.modules.insert(index - 1, module)
        self.output = self.modules[-1].output
        self.gradInput = self.modules[0].gradInput
        return self

    def remove(self, index=None):
        index = len(self.modules) if index is None else index
        if not 1 <= index <= len(self.modules):
            raise IndexError("index out of range")
        self.modules.pop(index - 1)
        if self.modules:
            self.output = self.modules[-1].output
            self.gradInput = self.modules[0].gradInput
        else:
            self.output = self._zeros(0)
            self.gradInput = self._zeros(0)
        return self

    def updateOutput(self, input):
        current = input
        for i in range(len(self.modules)):
            current = self._rethrow(i, "updateOutput", current)
        self.output = current
        return current

    def updateGradInput(self, input, gradOutput):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            current = self._rethrow(i, "updateGradInput", self.modules[i - 1].output, current)
        if self.modules:
            current = self._rethrow(0, "updateGradInput", input, current)
        self.gradInput = current
        return current

    def accGradParameters(self, input, gradOutput, scale=1):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            self._rethrow(i, "accGradParameters", self.modules[i - 1].output, current, scale)
            current = self.modules[i].gradInput
        if self.modules:
            self._rethrow(0, "accGradParameters", input, current, scale)

    def backward(self, input, gradOutput, scale=1):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            current = self._rethrow(i, "backward", self.modules[i - 1].output, current, scale)
            self.modules[i].gradInput = current
        if self.modules:
            current = self._rethrow(0, "backward", input, current, scale)
        self.gradInput = current
        return current

    def accUpdateGradParameters(self, input, gradOutput, lr):
        current = gradOutput
        for i in range(len(self.modules) - 1, 0, -1):
            self._rethrow(i, "accUpdateGradParameters", self.modules[i - 1].output, current, lr)
            current = self.modules[i].gradInput
        if self.modules:
            self._rethrow(0, "accUpdateGradParameters", input, current, lr)

    def __tostring__(self):
        tab = "  "
        line = "\n"
        out = "nn.Sequential {" + line + tab + "[input"
        for i in range(len(self.modules)):
            out += f" -> ({i + 1})"
        out += " -> output]"
        for i, m in enumerate(self.modules):
            out += line + tab + f"({i + 1}): " + str(m).replace(line, line + tab)
        return out + line + "}"


class _TreeContainer(Container):
    """Containers printed as Torch's tree (spec 2.21): Concat, DepthConcat, ..."""

    def __tostring__(self):
        tab, line = "  ", "\n"
        nxt, last_next = "  |`-> ", "   `-> "
        ext, ext_last = "  |    ", "       "
        last = "   ... -> "
        out = self._name() + " {" + line + tab + "input"
        for i, m in enumerate(self.modules):
            is_last = i == len(self.modules) - 1
            text = str(m).replace(line, line + tab + (ext_last if is_last else ext))
            out += line + tab + (last_next if is_last else nxt) + f"({i + 1}): " + text
        return out + line + tab + last + "output" + line + "}"


def _axis(dimension, ndim, who):
    if not 1 <= dimension <= ndim:
        raise ValueError(f"{who}: dimension {dimension} out of range for a {ndim}D output")
    return dimension - 1


def _add_into(acc, x):
    """Lua's nested table sum: arrays add, lists add element-wise (recursively)."""
    if isinstance(acc, list):
        for i, xi in enumerate(x):
            if i < len(acc):
                acc[i] = _add_into(acc[i], xi)
            else:
                acc.append(_copy(xi))
        return acc
    acc += x
    return acc


def _copy(x):
    return [_copy(v) for v in x] if isinstance(x, list) else x.copy()


def _sum_grads(grads, reuse=None):
    """The children's gradInputs summed in order, as Lua's copy then adds: the first two
    arrays added into a new one, or into ``reuse(shape, dtype)``'s array where it gives
    one (one pass, where a copy and an add make two)."""
    grads = [g for g in grads if g is not None]
    if (
        len(grads) >= 2
        and not any(isinstance(g, list) for g in grads[:2])
        and grads[0].shape == grads[1].shape
        and grads[0].dtype == grads[1].dtype
    ):
        out = None
        if reuse is not None and type(grads[0]) is np.ndarray:
            out = reuse(grads[0].shape, grads[0].dtype)
        total = grads[0] + grads[1] if out is None else np.add(grads[0], grads[1], out=out)
        for g in grads[2:]:
            total = _add_into(total, g)
        return total
    total = None
    for g in grads:
        total = _copy(g) if total is None else _add_into(total, g)
    return total


class Concat(_TreeContainer):
    """Every child gets the same input; outputs are joined along ``dimension`` (1-based).

    ``nn.Concat(dimension)``; use 2 for batched ``N x ...`` inputs.
    Shape: the children's outputs, summed along ``dimension``; other dims must agree.
    """

    def __init__(self, dimension: int):
        super().__init__()
        self.dimension = dimension

    def _place(self, outputs):
        """(output shape, [slice tuple of child i in the output])."""
        ref = outputs[0].shape
        ax = _axis(self.dimension, len(ref), self._name())
        for i, o in enumerate(outputs):
            if o.ndim != len(ref) or any(
                a != b for d, (a, b) in enumerate(zip(o.shape, ref)) if d != ax
            ):
                raise ValueError(
                    f"{self._name()}: output of module {i + 1} has shape "
                    f"{_desc(o.shape)}, which does not match {_desc(ref)} outside "
                    f"dimension {self.dimension}"
                )
        shape = list(ref)
        shape[ax] = sum(o.shape[ax] for o in outputs)
        places, offset = [], 0
        for o in outputs:
            sl = [slice(None)] * len(ref)
            sl[ax] = slice(offset, offset + o.shape[ax])
            offset += o.shape[ax]
            places.append(tuple(sl))
        return tuple(shape), places

    def updateOutput(self, input):
        outputs = [self._rethrow(i, "updateOutput", input) for i in range(len(self.modules))]
        shape, places = self._place(outputs)
        xp = B.get_array_module(outputs[0])
        dtype = outputs[0].dtype
        # the children's outputs fill the whole output unless DepthConcat pads some
        ax = _axis(self.dimension, len(shape), self._name())
        full = all(o.shape[d] == n for o in outputs for d, n in enumerate(shape) if d != ax)
        out = self._reused("output", shape, dtype)
        if out is None:
            out = (xp.empty if full else xp.zeros)(shape, dtype)
        elif not full:
            out[...] = 0
        for o, sl in zip(outputs, places):
            out[sl] = o
        self.output = out
        return out

    def _grad_slices(self, gradOutput):
        shape, places = self._place([m.output for m in self.modules])
        if tuple(gradOutput.shape) != shape:
            raise ValueError(
                f"{self._name()}: expected gradOutput of shape {_desc(shape)}, "
                f"got {_desc(gradOutput.shape)}"
            )
        return [gradOutput[sl] for sl in places]

    def _grad_buffer(self, shape, dtype):
        return self._reused("gradInput", shape, dtype)

    def updateGradInput(self, input, gradOutput):
        parts = self._grad_slices(gradOutput)
        grads = [self._rethrow(i, "updateGradInput", input, g) for i, g in enumerate(parts)]
        self.gradInput = _sum_grads(grads, self._grad_buffer)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        for i, g in enumerate(self._grad_slices(gradOutput)):
            self._rethrow(i, "accGradParameters", input, g, scale)

    def backward(self, input, gradOutput, scale=1):
        parts = self._grad_slices(gradOutput)
        grads = [self._rethrow(i, "backward", input, g, scale) for i, g in enumerate(parts)]
        self.gradInput = _sum_grads(grads, self._grad_buffer)
        return self.gradInput


class DepthConcat(Concat):
    """Concat for outputs of different spatial sizes: each is centred in a zero output.

    ``nn.DepthConcat(dimension)``. Shape: along ``dimension`` the sum, elsewhere the
    largest child size; child outputs start at ``floor((max - size) / 2)``.
    Differences from Torch7: none; note Torch's ``backward`` does not pass ``scale`` on
    to the children, and neither does this one.
    """

    def _place(self, outputs):
        ref = outputs[0].shape
        ax = _axis(self.dimension, len(ref), self._name())
        for i, o in enumerate(outputs):
            if o.ndim != len(ref):
                raise ValueError(
                    f"{self._name()}: output of module {i + 1} has {o.ndim} dims, "
                    f"expected {len(ref)}"
                )
        shape = [max(o.shape[d] for o in outputs) for d in range(len(ref))]
        shape[ax] = sum(o.shape[ax] for o in outputs)
        places, offset = [], 0
        for o in outputs:
            sl = []
            for d in range(len(ref)):
                if d == ax:
                    sl.append(slice(offset, offset + o.shape[d]))
                else:
                    start = (shape[d] - o.shape[d]) // 2
                    sl.append(slice(start, start + o.shape[d]))
            offset += o.shape[ax]
            places.append(tuple(sl))
        return tuple(shape), places

    def backward(self, input, gradOutput, scale=1):
        return super().backward(input, gradOutput, 1)


class ConcatTable(_TreeContainer):
    """Every child gets the same input; the output is the list of their outputs.

    ``nn.ConcatTable()``. Shape: input -> ``[out_1, ..., out_n]``.
    """

    def __init__(self):
        super().__init__()
        self.output = []

    def updateOutput(self, input):
        self.output = [self._rethrow(i, "updateOutput", input) for i in range(len(self.modules))]
        return self.output

    def updateGradInput(self, input, gradOutput):
        grads = [
            self._rethrow(i, "updateGradInput", input, gradOutput[i])
            for i in range(len(self.modules))
        ]
        self.gradInput = _sum_grads(grads)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        for i in range(len(self.modules)):
            self._rethrow(i, "accGradParameters", input, gradOutput[i], scale)

    def backward(self, input, gradOutput, scale=1):
        grads = [
            self._rethrow(i, "backward", input, gradOutput[i], scale)
            for i in range(len(self.modules))
        ]
        self.gradInput = _sum_grads(grads)
        return self.gradInput


class ParallelTable(_TreeContainer):
    """Child i gets input[i]; the output is the list of their outputs.

    ``nn.ParallelTable()``. Shape: ``[in_1, ..., in_n]`` -> ``[out_1, ..., out_n]``.
    """

    def __init__(self):
        super().__init__()
        self.output = []
        self.gradInput = []

    def updateOutput(self, input):
        self.output = [self._rethrow(i, "updateOutput", input[i]) for i in range(len(self.modules))]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = [
            self._rethrow(i, "updateGradInput", input[i], gradOutput[i])
            for i in range(len(self.modules))
        ]
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        for i in range(len(self.modules)):
            self._rethrow(i, "accGradParameters", input[i], gradOutput[i], scale)

    def backward(self, input, gradOutput, scale=1):
        self.gradInput = [
            self._rethrow(i, "backward", input[i], gradOutput[i], scale)
            for i in range(len(self.modules))
        ]
        return self.gradInput


def _desc(shape):
    return "[" + " x ".join(str(int(d)) for d in shape) + "]"


class Parallel(_TreeContainer):
    """Child i gets slice i of the input along ``inputDimension``; outputs are joined
    along ``outputDimension`` (both 1-based).

    ``nn.Parallel(inputDimension, outputDimension)``.
    Shape: input with ``size(inputDimension)`` = number of children -> the joined outputs.
    """

    def __init__(self, inputDimension: int, outputDimension: int):
        super().__init__()
        self.inputDimension, self.outputDimension = inputDimension, outputDimension

    def _in_axis(self, input):
        self._check_input(input)
        ax = _axis(self.inputDimension, input.ndim, self._name())
        if input.shape[ax] != len(self.modules):
            raise ValueError(
                f"{self._name()}: input has {input.shape[ax]} slices along dimension "
                f"{self.inputDimension}, but there are {len(self.modules)} modules"
            )
        return ax

    def _take(self, input, ax, i):
        sl = [slice(None)] * input.ndim
        sl[ax] = i
        return input[tuple(sl)]

    def _out_slices(self):
        outputs = [m.output for m in self.modules]
        ax = _axis(self.outputDimension, outputs[0].ndim, self._name())
        places, offset = [], 0
        for o in outputs:
            sl = [slice(None)] * o.ndim
            sl[ax] = slice(offset, offset + o.shape[ax])
            offset += o.shape[ax]
            places.append(tuple(sl))
        return ax, places

    def updateOutput(self, input):
        ax = self._in_axis(input)
        outs = [
            self._rethrow(i, "updateOutput", self._take(input, ax, i))
            for i in range(len(self.modules))
        ]
        oax = _axis(self.outputDimension, outs[0].ndim, self._name())
        self.output = B.get_array_module(input).concatenate(outs, axis=oax)
        return self.output

    def updateGradInput(self, input, gradOutput):
        ax = self._in_axis(input)
        _, places = self._out_slices()
        gi = B.get_array_module(input).zeros(input.shape, input.dtype)
        for i, sl in enumerate(places):
            g = self._rethrow(i, "updateGradInput", self._take(input, ax, i), gradOutput[sl])
            idx = [slice(None)] * input.ndim
            idx[ax] = i
            gi[tuple(idx)] = g
        self.gradInput = gi
        return gi

    def accGradParameters(self, input, gradOutput, scale=1):
        ax = self._in_axis(input)
        _, places = self._out_slices()
        for i, sl in enumerate(places):
            self._rethrow(i, "accGradParameters", self._take(input, ax, i), gradOutput[sl], scale)
