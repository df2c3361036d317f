"""Distance criterions: Abs, SmoothL1, DistKLDiv, WeightedMSE, SpatialAutoCropMSE,
ClassSimplex and L1Cost, and the L1Penalty module, as THNN and torch/nn compute them."""

from __future__ import annotations

import numbers

import numpy as np

from . import backend as B
from .criterion import (
    MSECriterion,
    _class_targets,
    _mse,
    _mse_grad,
    _nonempty,
    _norm,
    _NoTarget,
    _pair,
)
from .module import Criterion, Module, _size_desc

__all__ = [
    "AbsCriterion",
    "SmoothL1Criterion",
    "DistKLDivCriterion",
    "WeightedMSECriterion",
    "SpatialAutoCropMSECriterion",
    "ClassSimplexCriterion",
    "L1Cost",
    "L1Penalty",
]


class AbsCriterion(Criterion):
    """Mean absolute error ``sum(|x - y|) / nElement`` (or the sum).

    ``nn.AbsCriterion(sizeAverage=True)``. Shape: any; input and target have the same
    number of elements. The gradient at ``x == y`` is ``+1``, as THNN's.
    """

    def __init__(self, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage

    def updateOutput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        self.output = float(xp.abs(input - y).sum()) * _norm(self, input.size)
        return self.output

    def updateGradInput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        norm = _norm(self, input.size)
        self.gradInput = xp.where(input - y >= 0, norm, -norm).astype(input.dtype)
        return self.gradInput


class SmoothL1Criterion(Criterion):
    """Huber loss: ``0.5 z^2`` where ``|z| < 1``, else ``|z| - 0.5``, for ``z = x - y``.

    ``nn.SmoothL1Criterion(sizeAverage=True)``. Shape: any; input and target have the
    same number of elements.
    """

    def __init__(self, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage

    def updateOutput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        z = xp.abs(input - y)
        loss = float(xp.where(z < 1, 0.5 * z * z, z - 0.5).sum())
        self.output = loss * _norm(self, input.size)
        return self.output

    def updateGradInput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        self.gradInput = xp.clip(input - y, -1, 1) * _norm(self, input.size)
        return self.gradInput


class DistKLDivCriterion(Criterion):
    """Kullback-Leibler divergence ``sum(y (log y - x))`` of log-probabilities ``x``.

    ``nn.DistKLDivCriterion()``; elements with ``y <= 0`` count 0; ``sizeAverage``
    (a field, default true) divides by nElement. Shape: any; input and target have
    the same number of elements.
    """

    def __init__(self):
        super().__init__()
        self.sizeAverage = True

    def updateOutput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        pos = y > 0
        terms = xp.where(pos, y * (xp.log(xp.where(pos, y, 1)) - input), 0)
        self.output = float(terms.sum()) * _norm(self, input.size)
        return self.output

    def updateGradInput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        self.gradInput = xp.where(y > 0, -y * _norm(self, input.size), 0).astype(input.dtype)
        return self.gradInput


class WeightedMSECriterion(MSECriterion):
    """MSECriterion against the target scaled by ``weight``: ``MSE(x, weight * y)``.

    ``nn.WeightedMSECriterion(w)`` keeps a copy of ``w`` as ``weight``. Shape: any;
    a ``weight`` of one dimension less than the input is applied to every row of
    the batch, else it multiplies the target element by element.
    """

    def __init__(self, w):
        super().__init__()
        if not B.is_array(w):
            raise TypeError(f"WeightedMSECriterion: w should be an array, got {type(w).__name__}")
        self.weight = B.convert(w, self._type).copy()
        xp, dtype = B.xp_dtype(self._type)
        self.buffer = xp.empty(0, dtype)  # older Lua versions resize it without creating it

    def _scaled(self, input, target):
        y = _pair(self, input, target)
        w = self.weight
        per_row = input.ndim - 1 == w.ndim
        want = input.size // input.shape[0] if per_row else input.size
        if w.size != want:
            raise ValueError(
                f"WeightedMSECriterion: weight {_size_desc(w.shape)} does not fit input "
                f"{_size_desc(input.shape)}"
            )
        return y * (w.reshape((1,) + input.shape[1:]) if per_row else w.reshape(input.shape))

    def updateOutput(self, input, target):
        self.output = _mse(input, self._scaled(input, target), self.sizeAverage)
        return self.output

    def updateGradInput(self, input, target):
        self.gradInput = _mse_grad(input, self._scaled(input, target), self.sizeAverage)
        return self.gradInput


def _height_width(x):
    return x.shape[-2], x.shape[-1]


class SpatialAutoCropMSECriterion(MSECriterion):
    """MSECriterion against the target's centre, cropped to the input's height and width.

    ``nn.SpatialAutoCropMSECriterion(sizeAverage=True)``. Shape: input ``(C, H, W)`` or
    ``(N, C, H, W)``; target of the same rank and at least as high and wide.
    ``backward`` needs a target of the input's size, as Lua's (which asserts it).
    """

    def _check_dims(self, input, target, what):
        self._check_input(input)
        self._check_input(target, "target")
        if input.ndim != target.ndim:
            raise ValueError(
                f"SpatialAutoCropMSECriterion: input and {what} should have the same number "
                f"of dimensions (input {_size_desc(input.shape)}, {what} "
                f"{_size_desc(target.shape)})"
            )
        if input.ndim not in (3, 4):
            raise ValueError(
                f"SpatialAutoCropMSECriterion: input and {what} must have 3 or 4 dimensions, "
                f"got {_size_desc(input.shape)}"
            )

    def updateOutput(self, input, target):
        self._check_dims(input, target, "target")
        (h, w), (th, tw) = _height_width(input), _height_width(target)
        if h > th or w > tw:
            raise ValueError(
                "SpatialAutoCropMSECriterion: Spatial resolution of input should be less than "
                "or equal to the spatial resolution of the target (input "
                f"{_size_desc(input.shape)}, target {_size_desc(target.shape)})"
            )
        _nonempty(self, input)
        r, c = (th - h) // 2, (tw - w) // 2
        return super().updateOutput(input, target[..., r : r + h, c : c + w])

    def updateGradInput(self, input, target):
        self._check_dims(input, target, "gradOutput")
        if input.shape != target.shape:
            raise ValueError(
                "SpatialAutoCropMSECriterion: gradOutput and input must have the same size "
                f"(input {_size_desc(input.shape)}, target {_size_desc(target.shape)}); "
                "Lua's backward takes no larger target"
            )
        return super().updateGradInput(input, target)


def _regular_simplex(n):
    """The ``n + 1`` vertices of a regular simplex in ``n`` dimensions, unit norm,
    built row by row as torch/nn's ClassSimplexCriterion does."""
    a = np.zeros((n + 1, n))
    for k in range(n):
        a[k, k] = 1.0 if k == 0 else np.sqrt(1 - np.linalg.norm(a[k, :k]) ** 2)
        a[k + 1 :, k] = (a[k, k] ** 2 - 1 - 1 / n) / a[k, k]
    return a


class ClassSimplexCriterion(MSECriterion):
    """MSE between the input and the simplex vertex of the 1-based class target.

    ``nn.ClassSimplexCriterion(nClasses)``: ``simplex`` is ``nClasses x nClasses``
    (a regular simplex in ``nClasses - 1`` dimensions, padded with a zero column).
    Shape: input ``(nClasses)`` with a number target, or ``(N, nClasses)`` with ``N``
    targets.
    """

    def __init__(self, nClasses: int):
        if not isinstance(nClasses, numbers.Integral) or nClasses <= 1:
            raise ValueError("Required positive integer argument nClasses > 1")
        super().__init__()
        self.nClasses = nClasses
        xp, dtype = B.xp_dtype(self._type)
        simp = _regular_simplex(nClasses - 1)
        full = np.concatenate([simp, np.zeros((nClasses, nClasses - simp.shape[1]))], axis=1)
        self.simplex = xp.asarray(full, dtype)
        self._target = xp.zeros(nClasses, dtype)

    def _lua_fields(self, fields):
        fields["_target"] = self._target  # Lua's methods resize it without creating it
        return fields

    def _transform(self, input, target):
        self._check_input(input)
        if B.is_array(target) and target.ndim != 1:
            raise ValueError(
                f"ClassSimplexCriterion: 1D tensors only! (target {_size_desc(target.shape)})"
            )
        n = target.size if B.is_array(target) else 1
        lua = ("1D tensors only!", "index out of range")
        t, _ = _class_targets(self, target, n, self.nClasses, lua=lua)
        xp = B.get_array_module(input)
        rows = self.simplex[xp.asarray(t - 1)]
        y = rows if B.is_array(target) else rows[0]
        if input.size != y.size:
            raise ValueError(
                f"ClassSimplexCriterion: input {_size_desc(input.shape)} does not match the "
                f"{_size_desc(y.shape)} simplex targets (assertion failed!)"
            )
        return y

    def updateOutput(self, input, target):
        y = self._transform(input, target)
        self.output = super().updateOutput(input, y)
        self._target = y
        return self.output

    def updateGradInput(self, input, target):
        return super().updateGradInput(input, self._transform(input, target))

    def getPredictions(self, input):
        """Scores of each class: ``input @ simplex.T`` (a row for a 1-D input)."""
        return (input.reshape(1, -1) if input.ndim == 1 else input) @ self.simplex.T

    def getTopPrediction(self, input):
        """The 1-based class of the highest score, per row."""
        p = self.getPredictions(input)
        return p.argmax(axis=p.ndim - 1).reshape(-1) + 1


class L1Cost(_NoTarget, Criterion):
    """The L1 norm of the input, ``sum(|x|)``, with no target.

    ``nn.L1Cost()``; ``forward(input)``. Shape: any. The gradient is ``sign(x)``.
    """

    def updateOutput(self, input, target=None):
        self._check_input(input)
        _nonempty(self, input)
        xp = B.get_array_module(input)
        self.output = float(xp.abs(input).sum())
        return self.output

    def updateGradInput(self, input, target=None):
        self._check_input(input)
        _nonempty(self, input)
        xp = B.get_array_module(input)
        self.gradInput = xp.sign(input)
        return self.gradInput


class L1Penalty(Module):
    """Identity that adds an L1 penalty's gradient: a sparsity regulariser on activations.

    ``nn.L1Penalty(l1weight, sizeAverage=False, provideOutput=True)``: ``output`` is
    the input itself, ``loss = l1weight * sum(|x|)`` (divided by nElement when
    ``sizeAverage``), ``gradInput = l1weight * sign(x)`` plus ``gradOutput`` when
    ``provideOutput``. Shape: any.
    """

    def __init__(self, l1weight, sizeAverage=False, provideOutput=True):
        super().__init__()
        self.l1weight = l1weight
        self.sizeAverage = sizeAverage
        self.provideOutput = provideOutput

    def _weight(self, input):
        if not isinstance(self.l1weight, numbers.Real):
            raise TypeError(f"L1Penalty: l1weight should be a number, got {self.l1weight!r}")
        return self.l1weight / input.size if self.sizeAverage is True else self.l1weight

    def updateOutput(self, input):
        self._check_input(input)
        _nonempty(self, input)
        xp = B.get_array_module(input)
        self.loss = self._weight(input) * float(xp.abs(input).sum())
        self.output = input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check_input(input)
        _nonempty(self, input)
        if self.provideOutput is True:
            self._check_grad(gradOutput, input.shape)
        xp = B.get_array_module(input)
        g = xp.sign(input) * self._weight(input)
        self.gradInput = g + gradOutput if self.provideOutput is True else g
        return self.gradInput
