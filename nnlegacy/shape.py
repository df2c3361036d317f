"""View, Reshape, Identity (spec sections 2.14-2.16)."""

from __future__ import annotations

from .backend import get_array_module
from .module import Module

__all__ = ["Identity", "Narrow", "Reshape", "Select", "SpatialZeroPadding", "View"]


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


class SpatialZeroPadding(Module):
    """Pads (or, with negative sizes, crops) the two spatial dims with zeros.

    ``nn.SpatialZeroPadding(pad_l, pad_r=pad_l, pad_t=pad_l, pad_b=pad_l)``.
    Shape: ``(.., C, H, W)`` -> ``(.., C, H + pad_t + pad_b, W + pad_l + pad_r)``.
    """

    def __init__(self, pad_l, pad_r=None, pad_t=None, pad_b=None):
        super().__init__()
        self.pad_l = pad_l
        self.pad_r = pad_l if pad_r is None else pad_r
        self.pad_t = pad_l if pad_t is None else pad_t
        self.pad_b = pad_l if pad_b is None else pad_b

    def _regions(self, input):
        """(output shape, output slices, input slices) of the copied central region."""
        self._check_input(input)
        if input.ndim not in (3, 4):
            raise ValueError(f"input must be 3 or 4-dimensional, got {input.ndim}D")
        h, w = input.shape[-2:]
        oh, ow = h + self.pad_t + self.pad_b, w + self.pad_l + self.pad_r
        if oh < 1 or ow < 1:
            raise ValueError(f"input is too small (padded size {oh}x{ow})")

        def axis(pad_lo, pad_hi, n):
            src = slice(max(-pad_lo, 0), n - max(-pad_hi, 0))
            dst = slice(max(pad_lo, 0), max(pad_lo, 0) + max(src.stop - src.start, 0))
            return src, dst

        sh, dh = axis(self.pad_t, self.pad_b, h)
        sw, dw = axis(self.pad_l, self.pad_r, w)
        return input.shape[:-2] + (oh, ow), (..., dh, dw), (..., sh, sw)

    def updateOutput(self, input):
        shape, dst, src = self._regions(input)
        xp = get_array_module(input)
        out = xp.zeros(shape, input.dtype)
        out[dst] = input[src]
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        shape, dst, src = self._regions(input)
        self._check_grad(gradOutput, shape)
        xp = get_array_module(input)
        gi = xp.zeros(input.shape, input.dtype)
        gi[src] = gradOutput[dst]
        self.gradInput = gi
        return gi

    def __tostring__(self):
        return f"{self._name()}(l={self.pad_l}, r={self.pad_r}, t={self.pad_t}, b={self.pad_b})"


class _Slice(Module):
    """A copy of ``input[self._slice(input)]``; the gradient lands in the same slice."""

    def updateOutput(self, input):
        self.output = input[self._slice(input)].copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        sl = self._slice(input)
        self._check_grad(gradOutput, input[sl].shape)
        gi = get_array_module(input).zeros(input.shape, input.dtype)
        gi[sl] = gradOutput
        self.gradInput = gi
        return gi


class Narrow(_Slice):
    """A copy of ``length`` slices from ``offset`` along ``dimension`` (1-based).

    ``nn.Narrow(dimension, offset, length=1)``; a negative dimension counts from the
    end; a negative length means "through the end" (-1: up to the last slice).
    Shape: the input with ``size(dimension)`` replaced by ``length``.
    """

    def __init__(self, dimension=None, offset=None, length=1):
        super().__init__()
        if dimension is None or offset is None:
            raise TypeError("nn.Narrow(dimension, offset, length)")
        self.dimension, self.index, self.length = dimension, offset, length

    def _slice(self, input):
        self._check_input(input)
        dim = self.dimension
        if dim < 0:
            dim = input.ndim + dim + 1
        if not 1 <= dim <= input.ndim:
            raise ValueError(
                f"nn.Narrow: dimension {self.dimension} out of range for a {input.ndim}D input"
            )
        size = input.shape[dim - 1]
        index, length = self.index, self.length
        if length < 0:
            length = size - index + length + 2
        if index < 0:  # Torch's quirk: a negative offset keeps the first size-length slices
            index = 1
            length = size - length
        if length < 1 or index < 1 or index + length - 1 > size:
            raise ValueError(
                f"nn.Narrow: offset {self.index} and length {self.length} do not fit "
                f"dimension {dim} of size {size}"
            )
        sl = [slice(None)] * input.ndim
        sl[dim - 1] = slice(index - 1, index - 1 + length)
        return tuple(sl)


class Select(_Slice):
    """A copy of the ``index``-th slice along ``dimension`` (both 1-based; negatives
    count from the end). ``nn.Select(dimension, index)``.
    Shape: the input without dimension ``dimension``.
    """

    def __init__(self, dimension, index):
        super().__init__()
        self.dimension, self.index = dimension, index

    def _slice(self, input):
        self._check_input(input)
        dim = self.dimension if self.dimension >= 0 else input.ndim + self.dimension + 1
        if not 1 <= dim <= input.ndim:
            raise ValueError(
                f"nn.Select: dimension {self.dimension} out of range for a {input.ndim}D input"
            )
        size = input.shape[dim - 1]
        index = self.index if self.index >= 0 else size + self.index + 1
        if not 1 <= index <= size:
            raise ValueError(f"nn.Select: index {self.index} out of range 1..{size}")
        sl = [slice(None)] * input.ndim
        sl[dim - 1] = index - 1
        return tuple(sl)
