"""Margin and hinge criterions: Margin, SoftMargin, MultiMargin, MultiLabelMargin,
MultiLabelSoftMargin and HingeEmbedding, as THNN and torch/nn compute them."""

from __future__ import annotations

import numbers

import numpy as np

from . import backend as B
from .activation import Sigmoid
from .criterion import _class_targets, _cname, _nonempty, _norm, _num, _pair, _weights_1d
from .module import Criterion, _size_desc

__all__ = [
    "MarginCriterion",
    "SoftMarginCriterion",
    "MultiMarginCriterion",
    "MultiLabelMarginCriterion",
    "MultiLabelSoftMarginCriterion",
    "HingeEmbeddingCriterion",
]


class MarginCriterion(Criterion):
    """Two-class hinge loss ``sum(max(0, margin - x * y))`` for targets ``y`` of 1 or -1.

    ``nn.MarginCriterion(margin=1)``; ``sizeAverage`` (a field, default true) divides
    by nElement. Shape: any; input and target have the same number of elements.
    """

    def __init__(self, margin=1):
        super().__init__()
        self.sizeAverage = True
        self.margin = margin

    def updateOutput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        self.output = float(xp.maximum(self.margin - input * y, 0).sum()) * _norm(self, input.size)
        return self.output

    def updateGradInput(self, input, target):
        y = _pair(self, input, target)
        norm = _norm(self, input.size)
        self.gradInput = ((input * y < self.margin) * (-norm * y)).astype(input.dtype)
        return self.gradInput


class SoftMarginCriterion(Criterion):
    """Two-class logistic loss ``sum(log(1 + exp(-x * y)))`` for targets 1 or -1.

    ``nn.SoftMarginCriterion()``; ``sizeAverage`` (a field, default true) divides by
    nElement. Shape: any; input and target have the same number of elements.
    """

    def __init__(self):
        super().__init__()
        self.sizeAverage = True

    def updateOutput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        loss = float(xp.log(1 + xp.exp(-input * y)).sum())
        self.output = loss * _norm(self, input.size)
        return self.output

    def updateGradInput(self, input, target):
        y = _pair(self, input, target)
        xp = B.get_array_module(input)
        z = xp.exp(-y * input)
        self.gradInput = -y * _norm(self, input.size) * z / (1 + z)
        return self.gradInput


def _frames(crit, input, target, size_ok):
    """Input as ``(nframe, dim)`` for the THNN multi-class margins, after their checks."""
    crit._check_input(input)
    if input.ndim not in (1, 2):
        raise ValueError(
            f"{_cname(crit)}: vector or matrix expected, got input {_size_desc(input.shape)}"
        )
    if not size_ok:
        got = _size_desc(target.shape) if B.is_array(target) else type(target).__name__
        raise ValueError(
            f"{_cname(crit)}: inconsistent target size: target {got} "
            f"for input {_size_desc(input.shape)}"
        )
    _nonempty(crit, input)
    return input.reshape(1, -1) if input.ndim == 1 else input


class MultiMarginCriterion(Criterion):
    """Multi-class hinge loss of a 1-based class target against every other class.

    ``nn.MultiMarginCriterion(p=1, weights=None, margin=1)``: per sample
    ``sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / dim``, averaged over the
    batch when ``sizeAverage`` (a field, default true). Shape: input ``(dim)`` with a
    number target, or ``(N, dim)`` with ``N`` targets.
    """

    def __init__(self, p: int = 1, weights=None, margin=1):
        if p not in (1, 2):
            raise ValueError("only p=1 and p=2 supported")
        super().__init__()
        self.p = p
        self.margin = margin
        self.sizeAverage = True
        if weights is not None:
            self.weights = _weights_1d(weights, self._type)

    def _after_load(self):
        self.__dict__.setdefault("p", 1)
        self.__dict__.setdefault("margin", 1)

    def _prepare(self, input, target):
        if input.ndim == 2 and B.is_array(target):
            ok = target.ndim == 1 and target.shape[0] == input.shape[0]
        else:  # a number is a target of one element, as Lua's target_tensor
            ok = input.ndim != 2 or input.shape[0] == 1
        x = _frames(self, input, target, ok)
        dim = x.shape[1]
        weights = getattr(self, "weights", None)
        if weights is not None and weights.size != dim:
            raise ValueError(
                f"MultiMarginCriterion: {weights.size} weights for {dim} classes "
                f"(input {_size_desc(input.shape)})"
            )
        lua = ("inconsistent target size", "target out of range")
        t, _ = _class_targets(self, target, x.shape[0], dim, lua=lua)
        xp = B.get_array_module(input)
        t = xp.asarray(t - 1)
        rows = xp.arange(x.shape[0])
        z = self.margin - x[rows, t][:, None] + x
        z[rows, t] = 0  # the target's own class does not count
        w = 1.0 if weights is None else weights[t][:, None]
        return x, rows, t, z, w

    def updateOutput(self, input, target):
        x, _, _, z, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        h = xp.maximum(z, 0)
        if self.p == 2:
            h = h * h
        loss = float((h * w).sum()) / x.shape[1]
        self.output = loss / x.shape[0] if self.sizeAverage else loss
        return self.output

    def updateGradInput(self, input, target):
        x, rows, t, z, w = self._prepare(input, target)
        n, dim = x.shape
        g = 1.0 / (n * dim) if self.sizeAverage else 1.0 / dim
        h = (z > 0) * (g if self.p == 1 else 2 * g * z) * w
        h = h.astype(input.dtype)
        h[rows, t] = -h.sum(axis=1)
        self.gradInput = h.reshape(input.shape)
        return self.gradInput


class MultiLabelMarginCriterion(Criterion):
    """Multi-label hinge loss: every target class against every non-target class.

    ``nn.MultiLabelMarginCriterion()``; the target holds 1-based classes, ended by the
    first 0 (later values are ignored). Per sample
    ``sum_{j target, i not} max(0, 1 - x[j] + x[i]) / dim``, averaged over the batch
    when ``sizeAverage``. ``isTarget`` marks the target classes, as in Lua.
    Shape: input ``(dim)`` or ``(N, dim)``; target of the same shape.
    """

    def __init__(self):
        super().__init__()
        self.sizeAverage = True
        xp, dtype = B.xp_dtype(self._type)
        self.isTarget = xp.empty(0, dtype)

    def _prepare(self, input, target):
        ok = B.is_array(target) and tuple(target.shape) == tuple(input.shape)
        x = _frames(self, input, target, ok)
        n, dim = x.shape
        t = np.asarray(B.to_numpy(target)).reshape(n, dim)
        if t.dtype.kind not in "iuf":
            raise TypeError(f"MultiLabelMarginCriterion: targets of {t.dtype}")
        bad = (t < 0) | (t > dim)
        if t.dtype.kind == "f":
            bad |= ~np.isfinite(t) | (t != np.round(t))
        if bad.any():
            raise ValueError(
                f"MultiLabelMarginCriterion: target out of range: {_num(t[bad][0])} "
                f"(classes are 1..{dim}, 0 ends the list)"
            )
        t = t.astype(np.int64)
        valid = np.cumprod(t > 0, axis=1).astype(bool)  # the slots before the first 0
        xp = B.get_array_module(input)
        valid, idx = xp.asarray(valid), xp.asarray(np.maximum(t - 1, 0))
        onehot = (idx[:, :, None] == xp.arange(dim)) & valid[:, :, None]  # slot, class
        is_target = onehot.any(axis=1)
        xt = xp.take_along_axis(x, idx, axis=1)
        z = 1 - xt[:, :, None] + x[:, None, :]
        m = (valid[:, :, None] & ~is_target[:, None, :] & (z > 0)).astype(input.dtype)
        return x, z, m, onehot.astype(input.dtype), is_target.astype(input.dtype)

    def updateOutput(self, input, target):
        x, z, m, _, is_target = self._prepare(input, target)
        loss = float((z * m).sum()) / x.shape[1]
        self.output = loss / x.shape[0] if self.sizeAverage else loss
        self.isTarget = is_target.reshape(input.shape)
        return self.output

    def updateGradInput(self, input, target):
        x, _, m, onehot, is_target = self._prepare(input, target)
        xp = B.get_array_module(input)
        n, dim = x.shape
        g = 1.0 / (n * dim) if self.sizeAverage else 1.0 / dim
        grad = m.sum(axis=1) - xp.einsum("ns,nsd->nd", m.sum(axis=2), onehot)
        self.gradInput = (grad * g).astype(input.dtype).reshape(input.shape)
        self.isTarget = is_target.reshape(input.shape)
        return self.gradInput


class MultiLabelSoftMarginCriterion(Criterion):
    """Multi-label logistic loss: BCE of ``sigmoid(x)`` in its numerically stable form.

    ``nn.MultiLabelSoftMarginCriterion(weights=None, sizeAverage=True)``; per element
    ``-w (y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))``, divided by nElement when
    ``sizeAverage``. Shape: any; a 1-D ``weights`` of ``target.size(2)`` is broadcast
    over the rows of a 2-D target.
    """

    def __init__(self, weights=None, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage
        if weights is not None:
            self.weights = _weights_1d(weights, self._type)
        self.sigmoid = Sigmoid()

    def _prepare(self, input, target):
        y = _pair(self, input, target).reshape(-1)
        w = getattr(self, "weights", None)
        if w is not None:
            want = target.shape[1] if target.ndim == 2 else target.size
            if target.ndim > 2 or w.size != want:
                raise ValueError(
                    f"MultiLabelSoftMarginCriterion: weights of {w.size} elements do not fit "
                    f"target of shape {_size_desc(target.shape)}"
                )
            xp = B.get_array_module(input)
            w = xp.broadcast_to(w.reshape(1, -1), target.shape) if target.ndim == 2 else w
            w = w.reshape(-1)
        return input.reshape(-1), y, w

    def updateOutput(self, input, target):
        x, y, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        self.sigmoid.updateOutput(x)
        ind = (x >= 0).astype(input.dtype)
        loss = xp.log(1 + xp.exp(x - 2 * x * ind)) - x * (y - ind)
        if w is not None:
            loss = loss * w
        total = float(loss.sum())
        self.output = total / input.size if self.sizeAverage else total
        return self.output

    def updateGradInput(self, input, target):
        x, y, w = self._prepare(input, target)
        if self.sigmoid.output.shape != x.shape:
            self.sigmoid.updateOutput(x)
        g = self.sigmoid.output - y
        if w is not None:
            g = g * w
        if self.sizeAverage:
            g = g / target.size
        self.gradInput = g.reshape(input.shape)
        return self.gradInput


class HingeEmbeddingCriterion(Criterion):
    """Hinge embedding loss of distances ``x`` with labels ``y`` in {1, -1}.

    ``nn.HingeEmbeddingCriterion(margin=1)``: ``x`` where ``y == 1``,
    ``max(0, margin - x)`` where ``y == -1``, summed and divided by nElement when
    ``sizeAverage`` (a field, default true). Shape: any; ``y`` an array of the same
    number of elements, or a number.
    Differences from Torch7: a number ``y`` applies to every element (Lua accepts it
    for one-element input only).
    """

    def __init__(self, margin=1):
        super().__init__()
        self.margin = margin
        self.sizeAverage = True

    def _after_load(self):
        self.__dict__.setdefault("sizeAverage", True)

    def _labels(self, input, y):
        self._check_input(input)
        xp = B.get_array_module(input)
        if isinstance(y, numbers.Real) and not isinstance(y, bool):
            _nonempty(self, input)
            return xp.full(input.shape, y, input.dtype)
        if not B.is_array(y):
            raise TypeError(
                f"HingeEmbeddingCriterion: y should be a number or an array, got {type(y).__name__}"
            )
        return _pair(self, input, y)

    def _norm(self, input):
        return 1.0 / input.size if self.sizeAverage in (None, True) else 1.0

    def updateOutput(self, input, y):
        y = self._labels(input, y)
        xp = B.get_array_module(input)
        pos = float(xp.where(y == -1, 0, input).sum())
        neg = float(xp.where(y == 1, 0, xp.maximum(self.margin - input, 0)).sum())
        self.output = (pos + neg) * self._norm(input)
        return self.output

    def updateGradInput(self, input, y):
        y = self._labels(input, y)
        xp = B.get_array_module(input)
        g = xp.where((y == -1) & (input > self.margin), 0, y).astype(input.dtype)
        self.gradInput = g * self._norm(input)
        return self.gradInput
