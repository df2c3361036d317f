"""View, Reshape, Identity (spec sections 2.14-2.16)."""

from __future__ import annotations

from .backend import get_array_module
from .module import Module


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
        if any(s < 0 and s != -1 for s in size):
            raise ValueError("size should be positive or -1")
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
                f"{self._name()}: cannot reshape input of shape "
                f"{'x'.join(str(d) for d in input.shape)} to {'x'.join(str(d) for d in shape)}"
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
