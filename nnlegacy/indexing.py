"""Selecting and placing parts of the input: Narrow, Select, Index, MaskedSelect,
Padding and SpatialZeroPadding, as torch/nn's modules of the same names."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .backend import get_array_module
from .module import Module, _size_desc

__all__ = ["Index", "MaskedSelect", "Narrow", "Padding", "Select", "SpatialZeroPadding"]


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

    def __init__(self, dimension: int | None = None, offset: int | None = None, length: int = 1):
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

    def __init__(self, dimension: int, index: int):
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


class SpatialZeroPadding(Module):
    """Pads (or, with negative sizes, crops) the two spatial dims with zeros.

    ``nn.SpatialZeroPadding(pad_l, pad_r=pad_l, pad_t=pad_l, pad_b=pad_l)``.
    Shape: ``(.., C, H, W)`` -> ``(.., C, H + pad_t + pad_b, W + pad_l + pad_r)``.
    """

    def __init__(
        self,
        pad_l: int,
        pad_r: int | None = None,
        pad_t: int | None = None,
        pad_b: int | None = None,
    ):
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


class Padding(Module):
    """Inserts ``|pad|`` entries of ``value`` into dimension ``dim`` (1-based).

    ``nn.Padding(dim, pad, nInputDim=None, value=0, index=1)``: a negative ``pad`` pads
    before entry ``index`` counted from the front, a positive one after entry ``index``
    counted from the back (``index=1``: at the very start or end). With ``nInputDim``,
    an input of another rank is a batch and ``dim`` moves one on.
    Shape: the input with ``size(dim)`` grown by ``|pad|``.
    """

    def __init__(self, dim: int, pad: int, nInputDim: int | None = None, value=0, index: int = 1):
        super().__init__()
        self.value = value
        self.index = index
        self.dim = dim
        self.pad = pad
        self.nInputDim = nInputDim
        self.outputSize = []

    def _after_load(self):
        d = self.__dict__
        d.setdefault("nInputDim", None)
        d.setdefault("value", 0)
        d.setdefault("index", 1)
        d["outputSize"] = [int(s) for s in B.to_numpy(d.get("outputSize", [])).reshape(-1)]

    def _layout(self, input):
        """(axis, split: entries before the pad, pad width, output shape)."""
        self._check_input(input)
        dim = self.dim
        if self.nInputDim is not None and input.ndim != self.nInputDim:
            dim += 1
        if not 1 <= dim <= input.ndim:
            raise ValueError(
                f"{self._name()}: dimension {dim} out of range for an input of shape "
                f"{_size_desc(input.shape)}"
            )
        size = input.shape[dim - 1]
        index, pad = self.index, self.pad
        if pad > 0:
            index = size - index + 2
        else:
            pad = -pad
        if not 1 <= index <= size + 1:
            raise ValueError(
                f"{self._name()}: index {self.index} out of range for dimension {dim} "
                f"of size {size}"
            )
        shape = list(input.shape)
        shape[dim - 1] += pad
        return dim - 1, index - 1, pad, tuple(shape)

    def updateOutput(self, input):
        axis, k, pad, shape = self._layout(input)
        xp = get_array_module(input)
        out = xp.full(shape, self.value, input.dtype)
        lead = (slice(None),) * axis
        out[lead + (slice(0, k),)] = input[lead + (slice(0, k),)]
        out[lead + (slice(k + pad, None),)] = input[lead + (slice(k, None),)]
        self.outputSize = list(shape)
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        axis, k, pad, shape = self._layout(input)
        self._check_grad(gradOutput, shape)
        xp = get_array_module(input)
        lead = (slice(None),) * axis
        self.gradInput = xp.concatenate(
            (gradOutput[lead + (slice(0, k),)], gradOutput[lead + (slice(k + pad, None),)]),
            axis=axis,
        )
        return self.gradInput


def _table2(module, input, first="input", second="index"):
    if not isinstance(input, (list, tuple)) or len(input) != 2:
        raise TypeError(
            f"{module._name()}: expected a table {{{first}, {second}}} of two tensors, "
            f"got {type(input).__name__}"
        )
    t, other = input
    module._check_input(t, first)
    if not B.is_array(other) or get_array_module(other) is not get_array_module(t):
        raise TypeError(
            f"{module._name()}: {second} must be an array on the same device as {first}, "
            f"got {B.type_of(other)}"
        )
    return t, other


class Index(Module):
    """The slices of ``input[1]`` along ``dimension`` listed by the 1-based positions
    in ``input[2]``, as ``torch.index``.

    ``nn.Index(dimension)``; input ``{t, index}`` with ``index`` a 1-D integer array.
    Shape: ``t`` with ``size(dimension)`` replaced by ``#index``. ``gradInput`` is
    ``{dt, zeros of index's size}``.
    """

    def __init__(self, dimension: int):
        super().__init__()
        self.dimension = dimension
        self.gradInput = [self.gradInput, self._zeros(0)]

    def _positions(self, input):
        """(t, axis, 0-based positions) after checking them."""
        t, index = _table2(self, input)
        if not 1 <= self.dimension <= t.ndim:
            raise ValueError(
                f"{self._name()}: dimension {self.dimension} out of range for a tensor of "
                f"shape {_size_desc(t.shape)}"
            )
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise TypeError(
                f"{self._name()}: index must be a 1-D integer (Long) array, got "
                f"{B.type_of(index)} of shape {_size_desc(index.shape)}"
            )
        size = t.shape[self.dimension - 1]
        if index.size and (int(index.min()) < 1 or int(index.max()) > size):
            raise IndexError(
                f"{self._name()}: index out of range: positions are 1-based, from 1 to {size}; "
                f"got {int(index.min())}..{int(index.max())}"
            )
        return t, self.dimension - 1, index.astype(get_array_module(t).int64) - 1

    def updateOutput(self, input):
        t, axis, pos = self._positions(input)
        self.output = get_array_module(t).take(t, pos, axis=axis)
        return self.output

    def updateGradInput(self, input, gradOutput):
        t, axis, pos = self._positions(input)
        shape = t.shape[:axis] + pos.shape + t.shape[axis + 1 :]
        self._check_grad(gradOutput, shape)
        xp = get_array_module(t)
        gi = xp.zeros(t.shape, t.dtype)
        # a position listed twice gets both gradients, as indexAdd
        xp.add.at(xp.moveaxis(gi, axis, 0), pos, xp.moveaxis(gradOutput, axis, 0))
        self.gradInput = [gi, xp.zeros(pos.shape, t.dtype)]
        return self.gradInput


class MaskedSelect(Module):
    """The entries of ``input[1]`` where the mask ``input[2]`` is non-zero, in
    row-major order, as ``torch.maskedSelect``.

    ``nn.MaskedSelect()``; input ``{t, mask}`` with ``mask`` a uint8 (ByteTensor) or
    bool array of as many elements as ``t``. Shape: ``(number of non-zeros,)``.
    ``gradInput`` is ``{dt, zeros of the mask's shape (uint8)}``.
    """

    def __init__(self):
        super().__init__()
        xp = self._xp
        self._maskIndices = xp.empty(0, xp.int64)
        self._maskIndexBuffer = xp.empty(0, xp.int64)
        self._gradBuffer = self._zeros(0)
        self._gradMask = xp.empty(0, xp.uint8)

    def _operands(self, input):
        t, mask = _table2(self, input, "input", "mask")
        if mask.dtype not in (np.uint8, np.bool_):
            raise TypeError(
                f"{self._name()}: the mask must be a ByteTensor (uint8) or bool array, "
                f"got {B.type_of(mask)}"
            )
        if mask.size != t.size:
            raise ValueError(
                f"{self._name()}: the mask has {mask.size} elements, the input {t.size} "
                f"(shapes {_size_desc(mask.shape)} and {_size_desc(t.shape)})"
            )
        return t, mask, mask.reshape(-1) != 0

    def updateOutput(self, input):
        t, _, keep = self._operands(input)
        self.output = t.reshape(-1)[keep]
        return self.output

    def updateGradInput(self, input, gradOutput):
        t, mask, keep = self._operands(input)
        xp = get_array_module(t)
        buffer = xp.arange(1, t.size + 1, dtype=xp.int64).reshape(mask.shape)
        indices = buffer.reshape(-1)[keep]
        self._check_grad(gradOutput, indices.shape)
        grad = xp.zeros(t.size, t.dtype)
        grad[indices - 1] = gradOutput
        self._maskIndexBuffer, self._maskIndices = buffer, indices
        self._gradBuffer = grad.reshape(t.shape)
        self._gradMask = xp.zeros(mask.shape, xp.uint8)
        self.gradInput = [self._gradBuffer, self._gradMask]
        return self.gradInput

    def clearState(self):
        self._clear("_maskIndexBuffer", "_maskIndices", "_gradBuffer", "_gradMask")
        return super().clearState()
