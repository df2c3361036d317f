"""Class-likelihood and regression criterions: ClassNLL, SpatialClassNLL, CrossEntropy,
MSE and BCE (spec sections 2.27-2.30), and the checks the other criterion families share.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import backend as B
from .activation import LogSoftMax
from .module import Criterion, _size_desc

__all__ = [
    "ClassNLLCriterion",
    "SpatialClassNLLCriterion",
    "CrossEntropyCriterion",
    "MSECriterion",
    "BCECriterion",
]


# --- checks shared by the criterion families -------------------------------------------
def _cname(crit) -> str:
    return type(crit).__name__


def _num(v) -> str:
    """A number as Lua prints it: whole values without decimals, else %.14g."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else f"{v:.14g}"


def _norm(crit, n):
    """``1/n`` when the criterion averages (``sizeAverage``), else 1."""
    return 1.0 / n if crit.sizeAverage else 1.0


class _NoTarget:
    """Criterions Lua calls without a target (L1Cost, DistanceRatioCriterion):
    ``forward``, ``backward`` and the call take ``target=None``."""

    def forward(self, input, target=None):
        return self.updateOutput(input, target)

    def backward(self, input, target=None):
        return self.updateGradInput(input, target)

    def __call__(self, input, target=None):
        return super().__call__(input, target)


def _nonempty(crit, x, what: str = "input"):
    if x.size == 0:
        raise ValueError(
            f"{_cname(crit)}: {what} is empty ({_size_desc(x.shape)}); "
            "a criterion needs at least one element"
        )


def _elements_desc(a, b):
    return (
        "input and target have different number of elements: "
        f"input{_size_desc(a.shape)} has {a.size} elements, "
        f"while target{_size_desc(b.shape)} has {b.size} elements"
    )


def _pair(crit, input, target):
    """THNN's elementwise criterions: arrays of the criterion's type, same nElement."""
    crit._check_input(input)
    crit._check_input(target, "target")
    if input.size != target.size:
        raise ValueError(f"{_cname(crit)}: " + _elements_desc(input, target))
    _nonempty(crit, input)
    return target.reshape(input.shape)


def _weights_1d(weights, typ):
    """Lua's ``assert(weights:dim() == 1, ...)``; the weights in the criterion's type."""
    if weights is None:
        return None
    if not B.is_array(weights) or weights.ndim != 1:
        raise ValueError("weights input should be 1-D Tensor")
    return B.convert(weights, typ)


_NLL_ASSERTS = (
    "Assertion `THIndexTensor_(size)(target, 0) == batch_size' failed.",
    "Assertion `cur_target >= 0 && cur_target < n_classes' failed.",
)


def _class_targets(crit, target, n: int, n_classes: int, ignore=None, lua=_NLL_ASSERTS):
    """1-based class targets as a host int64 array of ``n`` values, checked as THNN
    checks them (``lua``: its size and range messages), with a bad value reported as
    given (never as a wrapped-around int64)."""
    name = _cname(crit)
    if isinstance(target, numbers.Real) and not isinstance(target, bool):
        t = np.array([target], dtype=np.float64 if isinstance(target, float) else np.int64)
    elif B.is_array(target):
        t = np.asarray(B.to_numpy(target)).reshape(-1)
    else:
        got = type(target).__name__
        raise TypeError(f"{name}: target should be a number or an array, got {got}")
    if t.dtype.kind not in "iuf":
        raise TypeError(f"{name}: class targets must be numbers, got an array of {t.dtype}")
    if t.size != n:
        raise ValueError(f"{name}: expected {n} target(s), got {t.size}; Torch: {lua[0]}")
    if t.dtype.kind == "f":
        bad = ~np.isfinite(t) | (t != np.round(t))
        if bad.any():
            raise ValueError(
                f"{name}: class targets must be whole numbers 1..{n_classes}, got {_num(t[bad][0])}"
            )
    ignored = (t == ignore) if ignore is not None else np.zeros(t.shape, bool)
    out = ~ignored & ((t < 1) | (t > n_classes))
    if out.any():
        first = t[out][0]
        hint = " (class targets are 1-based, as in Lua)" if first == 0 else ""
        raise ValueError(
            f"{name}: target {_num(first)} is out of range 1..{n_classes}{hint}; Torch: {lua[1]}"
        )
    return np.where(ignored, 0, t).astype(np.int64), ignored


class ClassNLLCriterion(Criterion):
    """Negative log-likelihood of 1-based class targets, given log-probabilities.

    ``nn.ClassNLLCriterion(weights=None, sizeAverage=True, ignoreIndex=-100)``.
    Shape: input ``(C)`` with a number target, or ``(N, C)`` with ``N`` targets in 1..C.
    ``forward`` returns the loss; the total weight is kept in ``total_weight``.
    Differences from Torch7: ``updateOutput`` returns the loss alone (Lua returns
    ``loss, total_weight``); read ``crit.total_weight`` for the second value.
    """

    def __init__(self, weights=None, sizeAverage=True, ignoreIndex: int = -100):
        super().__init__()
        self.sizeAverage = sizeAverage
        self.ignoreIndex = ignoreIndex
        self.weights = _weights_1d(weights, self._type)
        self.total_weight = 0.0
        self._after_load()

    def _after_load(self):
        # the buffers Lua's constructor makes and THNN writes into (older files lack them)
        xp, dtype = B.xp_dtype(self._type)
        d = self.__dict__
        d.setdefault("output_tensor", xp.zeros(1, dtype))
        d.setdefault("total_weight_tensor", xp.ones(1, dtype))
        d.setdefault("target", xp.zeros(1, np.int64))

    def _prepare(self, input, target):
        self._check_input(input)
        if input.ndim not in (1, 2):
            raise ValueError(
                f"ClassNLLCriterion: input tensor should be 1D or 2D, got {_size_desc(input.shape)}"
            )
        if B.is_array(target) and target.ndim > 1:
            raise ValueError(
                f"ClassNLLCriterion: multi-target not supported "
                f"(target of shape {_size_desc(target.shape)})"
            )
        _nonempty(self, input)
        n_classes = input.shape[-1]
        if self.weights is not None and self.weights.size != n_classes:
            raise ValueError(
                f"weight tensor should be defined either for all {n_classes} classes or no "
                f"classes but got weight tensor of shape: {_size_desc(self.weights.shape)}"
            )
        n = 1 if input.ndim == 1 else input.shape[0]
        t, ignored = _class_targets(self, target, n, n_classes, self.ignoreIndex)
        xp = B.get_array_module(input)
        cols = xp.asarray(t - 1 + ignored)  # ignored rows point at class 1, with weight 0
        valid = xp.asarray(~ignored).astype(input.dtype)
        w = valid if self.weights is None else self.weights[cols] * valid
        self.target = xp.asarray(np.where(ignored, self.ignoreIndex, t))
        return input.reshape(n, -1), xp.arange(n), cols, w

    def updateOutput(self, input, target):
        x, rows, cols, w = self._prepare(input, target)
        total = float(w.sum())
        loss = -float((x[rows, cols] * w).sum())
        if self.sizeAverage and total != 0:
            loss /= total
        xp = B.get_array_module(input)
        self.output_tensor = xp.asarray([loss], input.dtype)
        self.total_weight_tensor = xp.asarray([total], input.dtype)
        self.output = loss
        self.total_weight = total
        return loss

    def updateGradInput(self, input, target):
        x, rows, cols, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        total = float(w.sum())
        g = xp.zeros(x.shape, input.dtype)
        if total > 0:  # THNN leaves the gradient zero when the total weight is not positive
            if input.ndim == 1:
                g[rows, cols] = -w if (not self.sizeAverage and self.weights is not None) else -1
            else:
                g[rows, cols] = -w / total if self.sizeAverage else -w
        self.gradInput = g.reshape(input.shape)
        return self.gradInput


class SpatialClassNLLCriterion(Criterion):
    """ClassNLLCriterion at every pixel: log-probabilities over dim 2 of a 4-D batch.

    ``nn.SpatialClassNLLCriterion(weights=None, sizeAverage=True)``.
    Shape: input ``(N, C, H, W)``, target ``(N, H, W)`` of classes 1..C.
    ``forward`` returns the loss; the total weight is kept in ``total_weight``.
    """

    def __init__(self, weights=None, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage
        self.weights = _weights_1d(weights, self._type)
        self.total_weight = 0.0
        self._after_load()

    def _after_load(self):
        ClassNLLCriterion._after_load(self)
        self.__dict__.setdefault("weights", None)
        self.__dict__.setdefault("total_weight", 0.0)

    def _prepare(self, input, target):
        self._check_input(input)
        if not B.is_array(target) or target.ndim != 3:
            got = target.ndim if B.is_array(target) else type(target).__name__
            raise ValueError(
                "SpatialClassNLLCriterion: only batches of spatial targets supported "
                f"(3D tensors) but got targets of dimension: {got}"
            )
        if input.ndim != 4:
            raise ValueError(
                "SpatialClassNLLCriterion: only batches of spatial inputs supported "
                f"(4D tensors), but got input of dimension: {input.ndim}"
            )
        n_classes = input.shape[1]
        if self.weights is not None and self.weights.size != n_classes:
            raise ValueError(
                "SpatialClassNLLCriterion: weight tensor should be defined either for all "
                f"or no classes (got {self.weights.size} weights for {n_classes} classes)"
            )
        if (input.shape[0],) + tuple(input.shape[2:]) != tuple(target.shape):
            raise ValueError(
                "SpatialClassNLLCriterion: input and target batch or spatial sizes don't "
                f"match: target {_size_desc(target.shape)}, input {_size_desc(input.shape)}"
            )
        _nonempty(self, input)
        t, _ = _class_targets(self, target, target.size, n_classes)
        xp = B.get_array_module(input)
        t = xp.asarray(t.reshape(target.shape))
        self.target = t
        cols = (t - 1)[:, None]
        w = xp.ones(t.shape, input.dtype) if self.weights is None else self.weights[t - 1]
        return cols, w

    def updateOutput(self, input, target):
        cols, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        total = float(w.sum())
        loss = -float((xp.take_along_axis(input, cols, axis=1)[:, 0] * w).sum())
        if self.sizeAverage and total != 0:
            loss /= total
        self.output_tensor = xp.asarray([loss], input.dtype)
        self.total_weight_tensor = xp.asarray([total], input.dtype)
        self.output = loss
        self.total_weight = total
        return loss

    def updateGradInput(self, input, target):
        cols, w = self._prepare(input, target)
        xp = B.get_array_module(input)
        total = float(w.sum())
        g = xp.zeros(input.shape, input.dtype)
        if total > 0:
            scale = -w / total if self.sizeAverage else -w
            onehot = xp.arange(input.shape[1]).reshape(1, -1, 1, 1) == cols
            g = (onehot * scale[:, None]).astype(input.dtype)
        self.gradInput = g
        return self.gradInput


class CrossEntropyCriterion(Criterion):
    """LogSoftMax followed by ClassNLLCriterion, for raw scores.

    ``nn.CrossEntropyCriterion(weights=None, sizeAverage=True)``.
    Shape: as ClassNLLCriterion (the input is squeezed first, as in Torch).
    """

    def __init__(self, weights=None, sizeAverage=True):
        super().__init__()
        self.lsm = LogSoftMax()
        self.nll = ClassNLLCriterion(weights, sizeAverage)
        self.sizeAverage = self.nll.sizeAverage
        self.oldSizeAverage = self.sizeAverage

    def _after_load(self):
        # older nn versions kept sizeAverage on the inner nll only
        self.__dict__.setdefault("sizeAverage", self.nll.sizeAverage)
        self.__dict__.setdefault("oldSizeAverage", self.sizeAverage)

    def _squeeze(self, input, target):
        self._check_input(input)
        _nonempty(self, input)
        xp = B.get_array_module(input)
        x = xp.squeeze(input) if input.ndim > 1 else input
        if x.ndim == 0:
            x = x.reshape(1)
        t = target.reshape(-1) if B.is_array(target) else target
        if self.sizeAverage != self.oldSizeAverage:
            self.nll.sizeAverage = self.sizeAverage
        return x, t

    def updateOutput(self, input, target):
        x, t = self._squeeze(input, target)
        if x.ndim > 2:
            raise ValueError(
                f"CrossEntropyCriterion: input tensor should be 1D or 2D once squeezed, "
                f"got {_size_desc(input.shape)}"
            )
        self.nll._prepare(x, t)  # check the targets before LogSoftMax changes any state
        self.lsm.updateOutput(x)
        self.output = self.nll.updateOutput(self.lsm.output, t)
        self.total_weight = self.nll.total_weight
        self.oldSizeAverage = self.sizeAverage
        return self.output

    def updateGradInput(self, input, target):
        x, t = self._squeeze(input, target)
        if self.lsm.output.shape != x.shape:
            self.lsm.updateOutput(x)
        self.nll.updateGradInput(self.lsm.output, t)
        self.lsm.updateGradInput(x, self.nll.gradInput)
        self.gradInput = self.lsm.gradInput.reshape(input.shape)
        self.oldSizeAverage = self.sizeAverage
        return self.gradInput


def _mse(input, target, sizeAverage):
    d = input - target
    loss = float((d * d).sum())
    return loss / input.size if sizeAverage else loss


def _mse_grad(input, target, sizeAverage):
    return (input - target) * (2.0 / input.size if sizeAverage else 2.0)


class MSECriterion(Criterion):
    """Mean squared error ``sum((x - y)^2) / nElement`` (or the sum).

    ``nn.MSECriterion(sizeAverage=True)``. Shape: any; only the number of elements
    of input and target must agree.
    """

    def __init__(self, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage

    def updateOutput(self, input, target):
        y = _pair(self, input, target)
        self.output = _mse(input, y, self.sizeAverage)
        return self.output

    def updateGradInput(self, input, target):
        y = _pair(self, input, target)
        self.gradInput = _mse_grad(input, y, self.sizeAverage)
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
        self.weights = _weights_1d(weights, self._type)
        self.sizeAverage = sizeAverage

    def _prepare(self, input, target):
        self._check_input(input)
        self._check_input(target, "target")
        if input.size != target.size:
            raise ValueError("input and target size mismatch: " + _elements_desc(input, target))
        _nonempty(self, input)
        xp = B.get_array_module(input)
        outside = (input < 0) | (input > 1) | xp.isnan(input)
        if bool(outside.any()):
            bad = float(input[outside].reshape(-1)[0])
            raise ValueError(f"input value should be between 0~1, but got {bad:f}")
        y = target.reshape(input.shape)
        w = self.weights
        if w is None:
            return y, xp.ones((), input.dtype)
        want = target.shape[1] if target.ndim == 2 else target.size
        if target.ndim > 2 or w.size != want:
            raise ValueError(
                f"BCECriterion: weights of {w.size} elements do not fit target of shape "
                f"{_size_desc(target.shape)} (one weight per element of a 1-D target, "
                "or per column of a 2-D one)"
            )
        if target.ndim == 2:  # Lua: weights:view(1, target:size(2)):expandAs(target)
            w = xp.broadcast_to(w.reshape(1, -1), target.shape)
        return y, w.reshape(input.shape)

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
