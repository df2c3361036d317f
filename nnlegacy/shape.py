"""View, Reshape, Identity (spec sections 2.14-2.16) and the other modules that change
the layout or type of their input, as torch/nn's modules of the same names."""

from __future__ import annotations

from .backend import get_array_module
from .module import Module

__all__ = ["Collapse", "Contiguous", "Identity", "Reshape", "Squeeze", "Unsqueeze", "View"]


def _sizes(args):
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return [int(a) for a in args[0]]
    return [int(a) for a in args]


class View(Module):
    """A view of the input with the given sizes (no copy); a batch dim is inferred.

    ``nn.View(d1, d2, ...)`` or ``nn.View([d1, d2, ...])``; one size may be -1.
    ``setNumInputDims(n)`` says how many trailing dims make one sample.
    Shape: ``(.., *input)`` -> ``(bsz, d1, d2, ...)`` or ``(d1, d2, ...)``.
    """

    def __init__(self, *sizes):
        super().__init__()
        self.resetSize(*sizes)
        self.numInputDims = None

    def resetSize(self, *sizes):
        size = _sizes(sizes)
        if sum(1 for s in size if s == -1) > 1:
            raise ValueError("only one dimension can be at -1")
        if any(s < 1 and s != -1 for s in size):
            raise ValueError(f"nn.View: sizes should be positive or -1, got {size}")
        self.size = size
        self.numElements = 1
        for s in size:
            if s != -1:
                self.numElements *= s
        return self

    def setNumInputDims(self, numInputDims):
        self.numInputDims = numInputDims
        return self

    def _batchsize(self, input):
        dims = input.shape
        nid = self.numInputDims
        sample_dims = dims if nid is None else dims[len(dims) - nid :] if nid <= len(dims) else dims
        ine = 1
        for d in sample_dims:
            ine *= d
        if ine % self.numElements != 0:
            raise ValueError(
                "input view ({}) and desired view ({}) do not match".format(
                    "x".join(str(d) for d in dims), "x".join(str(s) for s in self.size)
                )
            )
        bsz = ine // self.numElements
        if -1 in self.size:
            bsz = 1
        if nid is not None:
            for d in dims[: max(len(dims) - nid, 0)]:
                bsz *= d
        return bsz

    def _target_shape(self, input):
        bsz = self._batchsize(input)
        size = list(self.size)
        if bsz == 1 and (self.numInputDims is None or input.ndim <= self.numInputDims):
            return _resolve(size, input.size)
        return _resolve([bsz] + size, input.size)

    def updateOutput(self, input):
        self._check_input(input)
        if not input.flags.c_contiguous:
            raise ValueError("expecting a contiguous tensor (nn.View gives a view, use nn.Reshape)")
        self.output = input.reshape(self._target_shape(input))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(gradOutput, "gradOutput")
        if gradOutput.size != input.size:
            raise ValueError(
                f"{self._name()}: expected gradOutput with {input.size} elements, "
                f"got {gradOutput.size}"
            )
        xp = get_array_module(gradOutput)
        self.gradInput = xp.ascontiguousarray(gradOutput).reshape(input.shape)
        return self.gradInput

    def __tostring__(self):
        return self._name() + "(" + ", ".join(str(s) for s in self.size) + ")"


def _resolve(shape, total):
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        shape = [total // known if s == -1 else s for s in shape]
    return tuple(shape)


class Reshape(Module):
    """The input's elements in a new shape (copied when the input is not contiguous).

    ``nn.Reshape(d1, ..., batchMode=None)``; a trailing boolean is batchMode.
    Shape: ``(N, ...)`` -> ``(N, d1, ...)``, or ``(...)`` -> ``(d1, ...)``.
    """

    def __init__(self, *args):
        super().__init__()
        args = list(args)
        self.batchMode = None
        if args and isinstance(args[-1], bool):
            self.batchMode = args.pop()
        self.size = _sizes(args)
        self.nelement = 1
        for s in self.size:
            self.nelement *= s

    def updateOutput(self, input):
        self._check_input(input)
        xp = get_array_module(input)
        x = xp.ascontiguousarray(input)
        if self.batchMode is False or (
            self.batchMode is None and input.size == self.nelement and input.shape[0] != 1
        ):
            shape = tuple(self.size)
        else:
            shape = (input.shape[0], *self.size)
        if x.size != _prod(shape):
            raise ValueError(
                f"{self._name()}: Wrong size for view. Input size: "
                f"{'x'.join(str(d) for d in input.shape)}. Output size: "
                f"{'x'.join(str(d) for d in shape)}"
            )
        self.output = x.reshape(shape)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(gradOutput, "gradOutput")
        if gradOutput.size != input.size:
            raise ValueError(
                f"{self._name()}: expected gradOutput with {input.size} elements, "
                f"got {gradOutput.size}"
            )
        xp = get_array_module(gradOutput)
        self.gradInput = xp.ascontiguousarray(gradOutput).reshape(input.shape)
        return self.gradInput

    def clearState(self):
        self._clear("_input", "_gradOutput")
        return super().clearState()

    def __tostring__(self):
        return self._name() + "(" + "x".join(str(s) for s in self.size) + ")"


def _prod(shape):
    p = 1
    for s in shape:
        p *= s
    return p


class Identity(Module):
    """``output = input`` and ``gradInput = gradOutput``, the same objects.

    ``nn.Identity()``. Shape: anything, tables included.
    """

    def updateOutput(self, input):
        self.output = input
        return input

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput
        return gradOutput

    def clearState(self):
        xp = self._xp
        self.output = xp.empty(0, self._dtype)
        self.gradInput = xp.empty(0, self._dtype)
        return self


class Squeeze(Module):
    """The input without its singleton dimensions (a view), or without dimension ``dim``
    when that one has size 1.

    ``nn.Squeeze(dim=None, numInputDims=None)``: with ``numInputDims``, an input of
    ``numInputDims + 1`` dimensions is a batch: ``dim`` moves one on, and a batch of
    one keeps its batch dimension. As Torch, a tensor never loses its last dimension.
    Shape: e.g. ``(2, 1, 3, 1)`` -> ``(2, 3)``.
    """

    def __init__(self, dim: int | None = None, numInputDims: int | None = None):
        super().__init__()
        self.dim = dim
        self.numInputDims = numInputDims

    def _after_load(self):
        self.__dict__.setdefault("dim", None)
        self.__dict__.setdefault("numInputDims", None)

    def setNumInputDims(self, numInputDims):
        self.numInputDims = numInputDims
        return self

    def _shape(self, input):
        self._check_input(input)
        dim, addone = self.dim, False
        if self.numInputDims is not None and input.ndim == self.numInputDims + 1:
            if dim is not None:
                dim += 1
            elif input.shape[0] == 1:
                addone = True  # a batch of one stays a batch
        shape = list(input.shape)
        if dim is not None:
            if not 1 <= dim <= input.ndim:
                raise ValueError(
                    f"{self._name()}: dimension {dim} out of range for an input of shape "
                    f"{_desc(input.shape)}"
                )
            if shape[dim - 1] == 1 and len(shape) > 1:
                del shape[dim - 1]
        else:
            shape = [s for s in shape if s != 1] or shape[:1]
        return ([1] if addone else []) + shape

    def updateOutput(self, input):
        self.output = input.reshape(self._shape(input))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = _view_back(self, input, gradOutput)
        return self.gradInput


def _view_back(module, input, gradOutput):
    """gradOutput viewed in the input's shape (the same number of elements)."""
    module._check_input(gradOutput, "gradOutput")
    if gradOutput.size != input.size:
        raise ValueError(
            f"{module._name()}: expected gradOutput with {input.size} elements (input "
            f"{_desc(input.shape)}), got {_desc(gradOutput.shape)}"
        )
    return gradOutput.reshape(input.shape)


def _desc(shape):
    return "[" + " x ".join(str(int(d)) for d in shape) + "]"


class Unsqueeze(Module):
    """The input with a singleton dimension inserted at ``pos`` (1-based; a view).

    ``nn.Unsqueeze(pos, numInputDims=None)``: dimensions beyond ``numInputDims`` are
    leading batch dimensions and ``pos`` counts after them. As Lua, the first forward
    sets ``numInputDims`` to the input's rank when it was not given.
    Shape: ``(3, 4)`` with ``pos=2`` -> ``(3, 1, 4)``.
    """

    def __init__(self, pos: int | None = None, numInputDims: int | None = None):
        super().__init__()
        if pos is None:
            raise TypeError("nn.Unsqueeze: the position to insert singleton dim not specified")
        self.pos = pos
        self.numInputDims = numInputDims

    def _after_load(self):
        self.__dict__.setdefault("numInputDims", None)

    def setNumInputDims(self, numInputDims):
        self.numInputDims = numInputDims
        return self

    def updateOutput(self, input):
        self._check_input(input)
        nid = input.ndim if self.numInputDims is None else self.numInputDims
        offset = input.ndim - nid
        if offset < 0:
            raise ValueError(
                f"{self._name()}: input feature map dim (numInputDims = {nid}) must be <= "
                f"input:dim() ({input.ndim})"
            )
        pos = self.pos + offset
        if not 1 <= pos <= input.ndim + 1:
            raise ValueError(
                f"{self._name()}: Invalid position: {self.pos}. input:dim() is {input.ndim}, "
                f"input feature map dim (numInputDims) is {nid}."
            )
        self.numInputDims = nid
        self.output = get_array_module(input).expand_dims(input, pos - 1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = _view_back(self, input, gradOutput)
        return self.gradInput

    def __tostring__(self):
        return f"{self._name()}(dim {self.pos})"


class Collapse(Module):
    """The non-batch dimensions flattened into one: ``(N, ...)`` -> ``(N, prod ...)``
    when the input has more than ``nInputDim`` dimensions, else ``(prod ...)``.

    ``nn.Collapse(nInputDim)``. Shape: ``(3, 2, 2)`` with nInputDim 2 -> ``(3, 4)``.
    Differences from Torch7: none, down to ``clearState`` that, as Lua's, drops the
    contiguous copy of the input but keeps ``output`` and ``gradInput``.
    """

    def __init__(self, nInputDim: int):
        super().__init__()
        self.nInputDim = nInputDim

    def updateOutput(self, input):
        self._check_input(input)
        x = input
        if not x.flags.c_contiguous:
            x = self._input = _contiguous(input)
        self.output = x.reshape((x.shape[0], -1) if x.ndim > self.nInputDim else (-1,))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = _view_back(self, input, _contiguous(gradOutput))
        return self.gradInput

    def clearState(self):
        self.__dict__.pop("_input", None)
        return self


class Contiguous(Module):
    """The input itself when it is C-contiguous, else a contiguous copy of it (and the
    same for gradOutput). ``nn.Contiguous()``. Shape: unchanged.
    """

    def updateOutput(self, input):
        self._check_input(input)
        self.output = input if input.flags.c_contiguous else _contiguous(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(gradOutput, "gradOutput")
        self.gradInput = gradOutput if gradOutput.flags.c_contiguous else _contiguous(gradOutput)
        return self.gradInput


def _contiguous(x):
    return get_array_module(x).ascontiguousarray(x)
