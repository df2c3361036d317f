"""Reductions over one dimension (Sum, Mean, Max, Min) and the matrix products of
two inputs (MM, MV), as torch/nn's modules of the same names."""

from __future__ import annotations

import math

from .backend import get_array_module
from .module import Module, _size_desc

__all__ = ["MM", "MV", "Max", "Mean", "Min", "Sum"]


def _reduction_dim(module, input) -> int:
    """Lua's _getPositiveDimension: a negative dimension counts from the end; with
    ``nInputDims`` set, an input with one more dimension is a batch (1-based)."""
    dim = module.dimension
    nid = module.nInputDims
    if dim < 0:
        dim = input.ndim + dim + 1
    elif nid is not None and input.ndim == nid + 1:
        dim += 1
    if not 1 <= dim <= input.ndim:
        raise ValueError(
            f"{module._name()}: dimension exceeds input dimensions (dimension "
            f"{module.dimension}, input of shape {_size_desc(input.shape)})"
        )
    return dim


class Sum(Module):
    """The sum of the input over ``dimension`` (1-based; negative counts from the end).

    ``nn.Sum(dimension=1, nInputDims=None, sizeAverage=False, squeeze=True)``: with
    ``nInputDims``, an input of ``nInputDims + 1`` dimensions is a batch and the
    dimension moves one on; ``sizeAverage`` divides by the size of that dimension;
    ``squeeze`` drops it from the output unless the input is 1-D.
    Shape: ``(.., n, ..)`` -> ``(.., ..)`` (or ``(.., 1, ..)`` without squeeze, ``(1,)``
    for a 1-D input).
    """

    def __init__(
        self, dimension: int = 1, nInputDims: int | None = None, sizeAverage=False, squeeze=True
    ):
        super().__init__()
        if not isinstance(squeeze, bool):
            raise TypeError(f"nn.Sum: squeeze has to be true/false, got {squeeze!r}")
        self.dimension = dimension
        self.nInputDims = nInputDims
        self.sizeAverage = bool(sizeAverage)
        self.squeeze = squeeze

    def _after_load(self):
        d = self.__dict__
        d.setdefault("nInputDims", None)
        d.setdefault("sizeAverage", False)
        if d.get("squeeze") is None:
            d["squeeze"] = True

    def updateOutput(self, input):
        self._check_input(input)
        dim = _reduction_dim(self, input)
        out = input.sum(axis=dim - 1, keepdims=True)
        if self.sizeAverage:
            out /= input.shape[dim - 1]
        if self.squeeze and out.ndim > 1:
            out = out.reshape(out.shape[: dim - 1] + out.shape[dim:])
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        dim = _reduction_dim(self, input)
        size = input.shape[: dim - 1] + (1,) + input.shape[dim:]
        self._check_input(gradOutput, "gradOutput")
        if gradOutput.size != math.prod(size):
            raise ValueError(
                f"{self._name()}: expected gradOutput with the elements of "
                f"{_size_desc(size)}, got {_size_desc(gradOutput.shape)}"
            )
        xp = get_array_module(input)
        gi = xp.broadcast_to(xp.ascontiguousarray(gradOutput).reshape(size), input.shape).copy()
        if self.sizeAverage:
            gi /= input.shape[dim - 1]
        self.gradInput = gi
        return gi

    def clearState(self):
        self._clear("_gradOutput")
        return super().clearState()


class Mean(Sum):
    """The mean of the input over ``dimension``: ``nn.Sum(dimension, nInputDims, true)``.

    ``nn.Mean(dimension=1, nInputDims=None)``. Shape: as ``nn.Sum``.
    """

    def __init__(self, dimension: int = 1, nInputDims: int | None = None):
        super().__init__(dimension, nInputDims, True)

    def _after_load(self):
        self.__dict__.setdefault("sizeAverage", True)  # older Mean.lua averaged always
        super()._after_load()


class _MaxMin(Module):
    """Max and Min: the extreme value over one dimension and its 1-based position."""

    _pick = "argmax"

    def __init__(self, dimension: int = 1, nInputDims: int | None = None):
        super().__init__()
        self.dimension = dimension
        self.nInputDims = nInputDims

    def _after_load(self):
        self.__dict__.setdefault("nInputDims", None)

    def updateOutput(self, input):
        self._check_input(input)
        dim = _reduction_dim(self, input)
        if input.shape[dim - 1] == 0:
            raise ValueError(f"{self._name()}: cannot reduce an empty dimension {dim}")
        xp = get_array_module(input)
        axis = dim - 1
        # the first extreme wins, a NaN beats any number: both as TH's max/min
        idx = xp.expand_dims(getattr(xp, self._pick)(input, axis=axis), axis)
        self._output = xp.take_along_axis(input, idx, axis)
        self._indices = idx.astype(xp.int64) + 1
        if input.ndim > 1:
            self.output = self._output.reshape(input.shape[:axis] + input.shape[axis + 1 :])
        else:
            self.output = self._output
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        dim = _reduction_dim(self, input)
        axis = dim - 1
        idx = getattr(self, "_indices", None)
        keep = input.shape[:axis] + (1,) + input.shape[axis + 1 :]
        if idx is None or tuple(idx.shape) != keep:
            raise RuntimeError(f"{self._name()}: updateGradInput needs a forward of this input")
        expected = keep if input.ndim == 1 else keep[:axis] + keep[axis + 1 :]
        self._check_grad(gradOutput, expected)
        xp = get_array_module(input)
        shape = [1] * input.ndim
        shape[axis] = input.shape[axis]
        hit = xp.arange(1, input.shape[axis] + 1).reshape(shape) == idx
        self.gradInput = xp.where(hit, gradOutput.reshape(keep), xp.zeros((), input.dtype))
        return self.gradInput

    def clearState(self):
        self._clear("_indices", "_output")
        return super().clearState()


class Max(_MaxMin):
    """The maximum over ``dimension``; ``_indices`` keeps its 1-based position.

    ``nn.Max(dimension=1, nInputDims=None)``; dimension rules as ``nn.Sum``.
    Shape: ``(.., n, ..)`` -> ``(.., ..)`` (``(1,)`` for a 1-D input).
    """

    _pick = "argmax"


class Min(_MaxMin):
    """The minimum over ``dimension``; ``_indices`` keeps its 1-based position.

    ``nn.Min(dimension=1, nInputDims=None)``; dimension rules as ``nn.Sum``.
    Shape: ``(.., n, ..)`` -> ``(.., ..)`` (``(1,)`` for a 1-D input).
    """

    _pick = "argmin"


def _pair(module, input, what="input must be a pair of minibatch matrices"):
    if not isinstance(input, (list, tuple)) or len(input) != 2:
        raise ValueError(f"{module._name()}: {what}")
    a, b = input
    module._check_input(a, "input[1]")
    module._check_input(b, "input[2]")
    return a, b


def _t(x):
    return x.swapaxes(-1, -2)


class MM(Module):
    """The matrix product of a pair ``{A, B}``, or of two batches of matrices.

    ``nn.MM(transA=False, transB=False)`` transposes A and/or B first.
    Shape: ``{(n, m), (m, p)}`` -> ``(n, p)``; ``{(b, n, m), (b, m, p)}`` -> ``(b, n, p)``.
    """

    def __init__(self, transA=False, transB=False):
        super().__init__()
        self.transA = bool(transA)
        self.transB = bool(transB)
        self.gradInput = [self._zeros(0), self._zeros(0)]

    def _operands(self, input):
        a, b = _pair(self, input)
        if a.ndim not in (2, 3):
            raise ValueError(f"{self._name()}: input tensors must be 2D or 3D")
        if b.ndim != a.ndim:
            raise ValueError(f"{self._name()}: second input tensor must be {a.ndim}D")
        if a.ndim == 3 and a.shape[0] != b.shape[0]:
            raise ValueError(
                f"{self._name()}: inputs must contain the same number of minibatches "
                f"(got {a.shape[0]} and {b.shape[0]})"
            )
        a2 = _t(a) if self.transA else a
        b2 = _t(b) if self.transB else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(
                f"{self._name()}: matrix sizes do not match "
                f"({_size_desc(a2.shape)} times {_size_desc(b2.shape)})"
            )
        return a, b, a2.shape[:-1] + b2.shape[-1:]

    def updateOutput(self, input):
        a, b, _ = self._operands(input)
        xp = get_array_module(a)
        self.output = xp.matmul(_t(a) if self.transA else a, _t(b) if self.transB else b)
        return self.output

    def updateGradInput(self, input, gradOutput):
        a, b, shape = self._operands(input)
        self._check_grad(gradOutput, shape)
        xp = get_array_module(a)
        g = gradOutput
        # C = op(A) op(B): dop(A) = G op(B)^T, dop(B) = op(A)^T G
        ga = xp.matmul(g, b if self.transB else _t(b))
        gb = xp.matmul(a if self.transA else _t(a), g)
        self.gradInput = [
            xp.ascontiguousarray(_t(ga) if self.transA else ga),
            xp.ascontiguousarray(_t(gb) if self.transB else gb),
        ]
        return self.gradInput


class MV(Module):
    """The matrix-vector product of a pair ``{M, v}``, or of a batch of them.

    ``nn.MV(trans=False)`` transposes M first.
    Shape: ``{(n, m), (m,)}`` -> ``(n,)``; ``{(b, n, m), (b, m)}`` -> ``(b, n)``.
    """

    def __init__(self, trans=False):
        super().__init__()
        if not isinstance(trans, bool):
            raise TypeError(
                "nn.MV: argument must be a boolean, matrix transpose before multiplication"
            )
        self.trans = trans
        self.gradInput = [self._zeros(0), self._zeros(0)]

    def _operands(self, input):
        m, v = _pair(self, input)
        if m.ndim not in (2, 3):
            raise ValueError(f"{self._name()}: input matrix must be 2D or 3D")
        if v.ndim != m.ndim - 1:
            what = "vector must be 1D" if m.ndim == 2 else "vector must be 2D (batch dimension)"
            raise ValueError(f"{self._name()}: {what}, got {_size_desc(v.shape)}")
        if m.ndim == 3 and m.shape[0] != v.shape[0]:
            raise ValueError(
                f"{self._name()}: inputs must contain the same number of minibatches "
                f"(got {m.shape[0]} and {v.shape[0]})"
            )
        mt = _t(m) if self.trans else m
        if mt.shape[-1] != v.shape[-1]:
            raise ValueError(
                f"{self._name()}: matrix row count and vector length do not match "
                f"({_size_desc(mt.shape)} times {_size_desc(v.shape)})"
            )
        return m, v, mt

    def updateOutput(self, input):
        m, v, mt = self._operands(input)
        xp = get_array_module(m)
        self.output = xp.matmul(mt, v[..., None])[..., 0]
        return self.output

    def updateGradInput(self, input, gradOutput):
        m, v, mt = self._operands(input)
        self._check_grad(gradOutput, mt.shape[:-1])
        xp = get_array_module(m)
        g = gradOutput
        gm = g[..., :, None] * v[..., None, :]  # d(M v)/dM: the outer product g v^T
        gv = xp.matmul(_t(mt), g[..., None])[..., 0]
        self.gradInput = [xp.ascontiguousarray(_t(gm) if self.trans else gm), gv]
        return self.gradInput
