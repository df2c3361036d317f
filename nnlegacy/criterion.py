"""ClassNLL, CrossEntropy, MSE and BCE criterions (spec sections 2.27-2.30)."""

from __future__ import annotations

import numbers

import numpy as np

from . import backend as B
from .activation import LogSoftMax
from .module import Criterion, _size_desc

__all__ = ["ClassNLLCriterion", "CrossEntropyCriterion", "MSECriterion", "BCECriterion"]


def _elements_desc(a, b):
    return (
        "input and target have different number of elements: "
        f"input{_size_desc(a.shape)} has {a.size} elements, "
        f"while target{_size_desc(b.shape)} has {b.size} elements"
    )


class ClassNLLCriterion(Criterion):
    """Negative log-likelihood of 1-based class targets, given log-probabilities.

    ``nn.ClassNLLCriterion(weights=None, sizeAverage=True, ignoreIndex=-100)``.
    Shape: input ``(C)`` with a number target, or ``(N, C)`` with ``N`` targets in 1..C.
    ``forward`` returns the loss; the total weight is kept in ``total_weight``.
    Differences from Torch7: ``updateOutput`` returns the loss alone (Lua returns
    ``loss, total_weight``); read ``crit.total_weight`` for the second value.
    """

    def __init__(self, weights=None, sizeAverage=True, ignoreIndex=-100):
        super().__init__()
        if weights is not None:
            if weights.ndim != 1:
                raise ValueError("weights input should be 1-D Tensor")
            weights = B.convert(weights, self._type)
        self.weights = weights
        self.sizeAverage = True if sizeAverage is None else sizeAverage
        self.ignoreIndex = ignoreIndex
        self.total_weight = 0.0

    def _prepare(self, input, target):
        self._check_input(input)
        if input.ndim not in (1, 2):
            raise ValueError(f"input tensor should be 1D or 2D, got {_size_desc(input.shape)}")
        xp = B.get_array_module(input)
        if isinstance(target, numbers.Number):
            t = np.array([target], dtype=np.float64)
        elif B.is_array(target):
            if target.ndim > 1:
                raise ValueError(
                    f"multi-target not supported (target of shape {_size_desc(target.shape)})"
                )
            t = B.to_numpy(target).reshape(-1)
        else:
            raise TypeError(f"target should be a number or an array, got {type(target).__name__}")
        n = 1 if input.ndim == 1 else input.shape[0]
        if t.size != n:
            raise ValueError(
                f"ClassNLLCriterion: expected {n} target(s) for input of shape "
                f"{_size_desc(input.shape)}, got {t.size} "
                "(Torch: Assertion `THIndexTensor_(size)(target, 0) == batch_size' failed.)"
            )
        if t.dtype.kind == "f" and not np.all(t == np.round(t)):
            raise ValueError("ClassNLLCriterion: class targets must be whole numbers 1..C")
        t = t.astype(np.int64)
        n_classes = input.shape[-1]
        ignored = t == self.ignoreIndex
        bad = ~ignored & ((t < 1) | (t > n_classes))
        if bad.any():
            first = int(t[bad][0])
            hint = " (class targets are 1-based, as in Lua)" if first == 0 else ""
            raise ValueError(
                f"ClassNLLCriterion: target {first} is out of range 1..{n_classes}{hint}; "
                "Torch: Assertion `cur_target >= 0 && cur_target < n_classes' failed."
            )
        if self.weights is not None and self.weights.size != n_classes:
            raise ValueError(
                f"weight tensor should be defined either for all {n_classes} classes or no "
                f"classes but got weight tensor of shape: {_size_desc(self.weights.shape)}"
            )
        rows = xp.asarray(np.arange(n))
        cols = xp.asarray(np.where(ignored, 0, t - 1))
        valid = xp.asarray(~ignored).astype(input.dtype)
        w = valid if self.weights is None else self.weights[cols] * valid
        return input.reshape(n, -1), rows, cols, w

    def updateOutput(self, input, target):
        x, rows, cols, w = self._prepare(input, target)
        total = float(w.sum())
        loss = -float((x[rows, cols] * w).sum())
        if self.sizeAverage and total != 0:
            loss /= total
        self.output = loss
        self.total_weight = total
        return loss

    def updateGradInput(self, input, target):
        x, rows, cols, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        total = float(w.sum())
        g = xp.zeros(x.shape, input.dtype)
        if total > 0:
            if input.ndim == 1:
                unit = not self.sizeAverage and self.weights is not None
                g[rows, cols] = -w if unit else -(w > 0).astype(input.dtype)
            else:
                g[rows, cols] = -w / total if self.sizeAverage else -w
        self.gradInput = g.reshape(input.shape)
        return self.gradInput


class CrossEntropyCriterion(Criterion):
    """LogSoftMax followed by ClassNLLCriterion, for raw scores.

    ``nn.CrossEntropyCriterion(weights=None, sizeAverage=True)``.
    Shape: as ClassNLLCriterion (the input is squeezed first, as in Torch).
    """

    def __init__(self, weights=None, sizeAverage=None):
        super().__init__()
        self.lsm = LogSoftMax()
        self.nll = ClassNLLCriterion(weights, sizeAverage)
        self.sizeAverage = self.nll.sizeAverage
        self.oldSizeAverage = self.sizeAverage

    def _squeeze(self, input, target):
        xp = B.get_array_module(input)
        x = xp.squeeze(input) if input.ndim > 1 else input
        if x.ndim == 0:
            x = x.reshape(1)
        t = target.reshape(-1) if B.is_array(target) else target
        if self.sizeAverage != self.oldSizeAverage:
            self.nll.sizeAverage = self.sizeAverage
            self.oldSizeAverage = self.sizeAverage
        return x, t

    def updateOutput(self, input, target):
        self._check_input(input)
        x, t = self._squeeze(input, target)
        self.lsm.updateOutput(x)
        self.output = self.nll.updateOutput(self.lsm.output, t)
        self.total_weight = self.nll.total_weight
        return self.output

    def updateGradInput(self, input, target):
        self._check_input(input)
        x, t = self._squeeze(input, target)
        self.nll.updateGradInput(self.lsm.output, t)
        self.lsm.updateGradInput(x, self.nll.gradInput)
        self.gradInput = self.lsm.gradInput.reshape(input.shape)
        return self.gradInput


class MSECriterion(Criterion):
    """Mean squared error ``sum((x - y)^2) / nElement`` (or the sum).

    ``nn.MSECriterion(sizeAverage=True)``. Shape: any; only the number of elements
    of input and target must agree.
    """

    def __init__(self, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage

    def _check(self, input, target):
        self._check_input(input)
        self._check_input(target, "target")
        if input.size != target.size:
            raise ValueError(_elements_desc(input, target))

    def updateOutput(self, input, target):
        self._check(input, target)
        d = input - target.reshape(input.shape)
        loss = float((d * d).sum())
        if self.sizeAverage:
            loss /= input.size
        self.output = loss
        return loss

    def updateGradInput(self, input, target):
        self._check(input, target)
        norm = 2.0 / input.size if self.sizeAverage else 2.0
        self.gradInput = (input - target.reshape(input.shape)) * norm
        return self.gradInput


class BCECriterion(Criterion):
    """Binary cross-entropy of probabilities in [0, 1].

    ``nn.BCECriterion(weights=None, sizeAverage=True)``;
    ``loss = -sum(w * (y log(x + eps) + (1 - y) log(1 - x + eps)))``, eps = 1e-12.
    Shape: any; a 1-D ``weights`` of ``target.size(2)`` is broadcast over rows.
    """

    EPS = 1e-12

    weights = None  # Lua writes no field for a nil weights

    def __init__(self, weights=None, sizeAverage=True):
        super().__init__()
        if weights is not None:
            if weights.ndim != 1:
                raise ValueError("weights input should be 1-D Tensor")
            weights = B.convert(weights, self._type)
        self.weights = weights
        self.sizeAverage = sizeAverage

    def _prepare(self, input, target):
        self._check_input(input)
        self._check_input(target, "target")
        if input.size != target.size:
            raise ValueError("input and target size mismatch: " + _elements_desc(input, target))
        xp = B.get_array_module(input)
        if bool(((input < 0) | (input > 1)).any()):
            bad = float(input[(input < 0) | (input > 1)].reshape(-1)[0])
            raise ValueError(f"input value should be between 0~1, but got {bad:f}")
        y = target.reshape(input.shape)
        if self.weights is None:
            w = xp.ones((), input.dtype)
        elif y.ndim == 2:
            w = self.weights.reshape(1, -1)
        else:
            w = self.weights.reshape(y.shape)
        return y, w

    def updateOutput(self, input, target):
        y, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        eps = self.EPS
        loss = -float((w * (y * xp.log(input + eps) + (1 - y) * xp.log(1 - input + eps))).sum())
        if self.sizeAverage:
            loss /= input.size
        self.output = loss
        return loss

    def updateGradInput(self, input, target):
        y, w = self._prepare(input, target)
        eps = self.EPS
        norm = 1.0 / input.size if self.sizeAverage else 1.0
        self.gradInput = -norm * (y - input) / ((1 - input + eps) * (input + eps)) * w
        return self.gradInput
