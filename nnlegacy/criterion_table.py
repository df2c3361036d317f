"""Criterions on tables: pair embeddings (L1HingeEmbedding, CosineEmbedding,
MarginRanking, DistanceRatio) and the criterion containers (ParallelCriterion,
MultiCriterion, ModuleCriterion)."""

from __future__ import annotations

import numbers

from . import backend as B
from .criterion import _cname, _nonempty, _NoTarget
from .module import Criterion, _size_desc
from .t7 import LuaStorage

__all__ = [
    "L1HingeEmbeddingCriterion",
    "CosineEmbeddingCriterion",
    "MarginRankingCriterion",
    "DistanceRatioCriterion",
    "ParallelCriterion",
    "MultiCriterion",
    "ModuleCriterion",
]


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _two(crit, input, what="a table of two arrays"):
    """The two arrays of a pair input, of the criterion's type and the same nElement."""
    if not isinstance(input, (list, tuple)) or len(input) != 2:
        got = f"{len(input)} entries" if isinstance(input, (list, tuple)) else type(input).__name__
        raise ValueError(f"{_cname(crit)}: input should be {what}, got {got}")
    a, b = input
    crit._check_input(a, "input[1]")
    crit._check_input(b, "input[2]")
    if a.size != b.size:
        raise ValueError(
            f"{_cname(crit)}: input[1]{_size_desc(a.shape)} and input[2]{_size_desc(b.shape)} "
            "have different numbers of elements"
        )
    _nonempty(crit, a, "input[1]")
    return a, b


def _label(crit, y):
    """A number label; a one-element array counts as its value."""
    if B.is_array(y) and y.size == 1:
        return float(y.reshape(-1)[0])
    if not _is_number(y):
        raise TypeError(f"{_cname(crit)}: y should be a number (1 or -1), got {y!r}")
    return y


class L1HingeEmbeddingCriterion(Criterion):
    """Hinge embedding loss on the L1 distance ``d = ||x1 - x2||_1`` of a pair.

    ``nn.L1HingeEmbeddingCriterion(margin=1)``: ``d`` for ``y == 1``,
    ``max(0, margin - d)`` for ``y == -1``. Shape: input ``{x1, x2}`` of the same number
    of elements, ``y`` a number.
    Differences from Torch7: a one-element array ``y`` counts as its value (Lua treats
    any tensor as ``y == 1``).
    """

    def __init__(self, margin=1):
        super().__init__()
        self.margin = margin
        xp, dtype = B.xp_dtype(self._type)
        self.gradInput = [xp.empty(0, dtype), xp.empty(0, dtype)]

    def updateOutput(self, input, y):
        a, b = _two(self, input)
        y = _label(self, y)
        xp = B.get_array_module(a)
        d = float(xp.abs(a - b.reshape(a.shape)).sum())
        self.output = max(0.0, self.margin - d) if y == -1 else d
        return self.output

    def updateGradInput(self, input, y):
        a, b = _two(self, input)
        y = _label(self, y)
        xp = B.get_array_module(a)
        diff = a - b.reshape(a.shape)
        g = xp.sign(diff)
        if y == -1:
            g = g * 0 if float(xp.abs(diff).sum()) > self.margin else -g
        self.gradInput = [g, (-g).reshape(b.shape)]
        return self.gradInput


class CosineEmbeddingCriterion(Criterion):
    """Cosine embedding loss of pairs: ``1 - cos`` for ``y == 1``,
    ``max(0, cos - margin)`` for ``y == -1``.

    ``nn.CosineEmbeddingCriterion(margin=0)``; ``cos`` uses squared norms plus 1e-12,
    as Lua's; the sum is divided by the batch size when ``sizeAverage`` (a field,
    default true). Shape: input ``{x1, x2}`` of ``(D)`` or ``(N, D)``; ``y`` ``N`` labels.
    Differences from Torch7: a number ``y`` is taken as one label (Lua needs a tensor).
    """

    EPS = 1e-12

    def __init__(self, margin=0):
        super().__init__()
        self.margin = margin
        xp, dtype = B.xp_dtype(self._type)
        self.gradInput = [xp.empty(0, dtype), xp.empty(0, dtype)]
        self.sizeAverage = True

    def _prepare(self, input, y):
        a, b = _two(self, input)
        if a.shape != b.shape or a.ndim not in (1, 2):
            raise ValueError(
                "CosineEmbeddingCriterion: input[1] and input[2] should both be (D) or (N, D), "
                f"got {_size_desc(a.shape)} and {_size_desc(b.shape)}"
            )
        x1, x2 = (a.reshape(1, -1), b.reshape(1, -1)) if a.ndim == 1 else (a, b)
        xp = B.get_array_module(a)
        if _is_number(y):
            y = xp.full(1, y, a.dtype)
        if not B.is_array(y) or y.size != x1.shape[0]:
            got = _size_desc(y.shape) if B.is_array(y) else type(y).__name__
            raise ValueError(
                f"CosineEmbeddingCriterion: expected {x1.shape[0]} labels y, got {got}"
            )
        y = y.reshape(-1)
        w1 = (x1 * x2).sum(axis=1, keepdims=True)
        w22 = 1 / ((x1 * x1).sum(axis=1, keepdims=True) + self.EPS)
        w32 = 1 / ((x2 * x2).sum(axis=1, keepdims=True) + self.EPS)
        w = xp.sqrt(w22 * w32)
        cos = (w1 * w)[:, 0]
        out = xp.where(y == -1, xp.maximum(cos - self.margin, 0), cos)
        out = xp.where(y == 1, 1 - out, out)
        return x1, x2, y, w1, w22, w32, w, out

    def updateOutput(self, input, y):
        *_, y, _, _, _, _, out = self._prepare(input, y)
        loss = float(out.sum())
        self.output = loss / y.shape[0] if self.sizeAverage else loss
        return self.output

    def updateGradInput(self, input, y):
        x1, x2, y, w1, w22, w32, w, out = self._prepare(input, y)
        scale = ((out > 0) * _cos_sign(y))[:, None]
        if self.sizeAverage:
            scale = scale / y.shape[0]
        g1 = (x2 - w1 * w22 * x1) * w * scale
        g2 = (x1 - w1 * w32 * x2) * w * scale
        shape = input[0].shape
        self.gradInput = [g1.astype(x1.dtype).reshape(shape), g2.astype(x1.dtype).reshape(shape)]
        return self.gradInput


def _cos_sign(y):
    """-1 where ``y == 1`` (the loss is ``1 - cos``), else +1."""
    return 1 - 2 * (y == 1)


class MarginRankingCriterion(Criterion):
    """Ranking hinge loss ``max(0, -y (x1 - x2) + margin)`` of pairs of scores.

    ``nn.MarginRankingCriterion(margin=1)``. Shape: input ``{x1, x2}`` of one element
    each with a number ``y``, or of ``N`` elements each with ``N`` labels ``y``; the batch
    sum is divided by ``N`` when ``sizeAverage`` (a field, default true).
    """

    def __init__(self, margin=1):
        super().__init__()
        self.margin = margin
        xp, dtype = B.xp_dtype(self._type)
        self.gradInput = [xp.zeros(1, dtype), xp.zeros(1, dtype)]
        self.sizeAverage = True

    def _prepare(self, input, y):
        a, b = _two(self, input)
        if _is_number(y):
            if a.size != 1:
                raise ValueError(
                    "MarginRankingCriterion: a number y needs one score per input, got "
                    f"input[1]{_size_desc(a.shape)}; give N labels for a batch"
                )
            xp = B.get_array_module(a)
            y = xp.full(a.shape, y, a.dtype)
            n = None
        elif B.is_array(y) and y.size == a.size:
            n = y.shape[0]
            y = y.reshape(a.shape)
        else:
            got = _size_desc(y.shape) if B.is_array(y) else type(y).__name__
            raise ValueError(f"MarginRankingCriterion: expected {a.size} labels y, got {got}")
        return a, b.reshape(a.shape), y, n

    def updateOutput(self, input, y):
        a, b, y, n = self._prepare(input, y)
        xp = B.get_array_module(a)
        loss = float(xp.maximum(-y * (a - b) + self.margin, 0).sum())
        self.output = loss / n if (n is not None and self.sizeAverage) else loss
        return self.output

    def updateGradInput(self, input, y):
        a, b, y, n = self._prepare(input, y)
        mask = (-y * (a - b) + self.margin >= 0).astype(a.dtype)
        g = mask * y
        if n is not None and self.sizeAverage:
            g = g / n
        self.gradInput = [-g, g.reshape(input[1].shape)]
        return self.gradInput


class DistanceRatioCriterion(_NoTarget, Criterion):
    """Triplet loss ``-log(exp(-X) / (exp(-X) + exp(-Y)))`` of similar-pair distances
    ``X`` and dissimilar-pair distances ``Y``.

    ``nn.DistanceRatioCriterion(sizeAverage=True)``; ``forward({X, Y})`` with no
    target; averaged over ``X:size(1)`` when ``sizeAverage``. Shape: ``X``, ``Y`` ``(N)``.
    Differences from Torch7: ``output`` holds the loss (Lua returns it but leaves
    ``output`` 0) and ``gradInput`` the returned gradients.
    """

    def __init__(self, sizeAverage=True):
        super().__init__()
        self.sizeAverage = sizeAverage

    def _prepare(self, input):
        if not isinstance(input, (list, tuple)) or len(input) != 2:
            raise ValueError("DistanceRatioCriterion: Invalid number of inputs (a table {X, Y})")
        x, y = _two(self, input)
        if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"DistanceRatioCriterion: Invalid distances' size: X{_size_desc(x.shape)}, "
                f"Y{_size_desc(y.shape)}"
            )
        xp = B.get_array_module(x)
        ex, ey = xp.exp(-x), xp.exp(-y.reshape(x.shape))
        norm = 1.0 / x.shape[0] if self.sizeAverage else 1.0
        return x, ex, ey, ex + ey, norm

    def updateOutput(self, input, target=None):
        x, _, _, s, norm = self._prepare(input)
        xp = B.get_array_module(x)
        self.output = float((x + xp.log(s)).sum()) * norm
        return self.output

    def updateGradInput(self, input, target=None):
        x, ex, ey, s, norm = self._prepare(input)
        self.gradInput = [(1 - ex / s) * norm, (-ey / s * norm).reshape(input[1].shape)]
        return self.gradInput


def _axpy_tree(x, w, g, name):
    """``w * g`` shaped as the input ``x`` (arrays or nested tables of them)."""
    if isinstance(x, (list, tuple)):
        if not isinstance(g, (list, tuple)) or len(g) != len(x):
            raise ValueError(f"{name}: a criterion's gradInput does not match its table input")
        return [_axpy_tree(a, w, b, name) for a, b in zip(x, g)]
    if g.size != x.size:
        raise ValueError(
            f"{name}: gradInput{_size_desc(g.shape)} does not match input{_size_desc(x.shape)}"
        )
    return (g * w).reshape(x.shape).astype(x.dtype)


class ParallelCriterion(Criterion):
    """A weighted sum of criterions, the i-th applied to ``input[i]`` and ``target[i]``
    (or to the whole ``target`` when ``repeatTarget``).

    ``nn.ParallelCriterion(repeatTarget=None)``; ``:add(criterion, weight=1)``.
    Shape: ``input`` a table with one entry per criterion.
    """

    def __init__(self, repeatTarget=None):
        super().__init__()
        self.criterions = []
        self.weights = []
        self.gradInput = []
        self.repeatTarget = repeatTarget

    def _after_load(self):
        self.__dict__.setdefault("repeatTarget", None)

    def add(self, criterion, weight=1):
        self.criterions.append(criterion)
        self.weights.append(weight)
        return self

    def _pairs(self, input, target):
        n = len(self.criterions)
        if not isinstance(input, (list, tuple)) or len(input) < n:
            got = (
                f"{len(input)} entries"
                if isinstance(input, (list, tuple))
                else type(input).__name__
            )
            raise ValueError(f"ParallelCriterion: expected a table of {n} inputs, got {got}")
        if not self.repeatTarget and (not isinstance(target, (list, tuple)) or len(target) < n):
            raise ValueError(
                f"ParallelCriterion: expected a table of {n} targets (or repeatTarget), "
                f"got {type(target).__name__}"
            )
        return [(input[i], target if self.repeatTarget else target[i]) for i in range(n)]

    def updateOutput(self, input, target):
        total = 0.0
        for (x, t), c, w in zip(self._pairs(input, target), self.criterions, self.weights):
            total += w * c.updateOutput(x, t)
        self.output = total
        return total

    def updateGradInput(self, input, target):
        grads = []
        for (x, t), c, w in zip(self._pairs(input, target), self.criterions, self.weights):
            grads.append(_axpy_tree(x, w, c.updateGradInput(x, t), "ParallelCriterion"))
        self.gradInput = grads
        return grads


class MultiCriterion(Criterion):
    """A weighted sum of criterions, each applied to the same input and target.

    ``nn.MultiCriterion()``; ``:add(criterion, weight=1)``. Shape: as its criterions.
    ``weights`` is a list here and a ``torch.DoubleStorage`` in saved files, as Lua's.
    """

    def __init__(self):
        super().__init__()
        self.criterions = []
        self.weights = []

    def _after_load(self):
        w = self.weights  # a DoubleStorage in the file
        self.weights = [float(v) for v in (B.to_numpy(w).reshape(-1) if B.is_array(w) else w)]

    def _lua_fields(self, fields):
        fields["weights"] = LuaStorage(self.weights, "Double")
        return fields

    def add(self, criterion, weight=1):
        self.criterions.append(criterion)
        self.weights.append(weight)
        return self

    def updateOutput(self, input, target):
        total = 0.0
        for c, w in zip(self.criterions, self.weights):
            total += w * c.updateOutput(input, target)
        self.output = total
        return total

    def updateGradInput(self, input, target):
        self._check_input(input)
        xp = B.get_array_module(input)
        g = xp.zeros(input.shape, input.dtype)
        for c, w in zip(self.criterions, self.weights):
            g = g + _axpy_tree(input, w, c.updateGradInput(input, target), "MultiCriterion")
        self.gradInput = g
        return g


class ModuleCriterion(Criterion):
    """A criterion applied to ``inputModule(input)`` and ``targetModule(target)``.

    ``nn.ModuleCriterion(criterion, inputModule=None, targetModule=None,
    castTarget=True)``; the gradient flows back through ``inputModule`` (whose
    parameters are not updated); ``:type()`` leaves ``targetModule`` alone when
    ``castTarget`` is false. Shape: as the modules and criterion.
    """

    def __init__(self, criterion, inputModule=None, targetModule=None, castTarget=True):
        super().__init__()
        self.criterion = criterion
        self.inputModule = inputModule
        self.targetModule = targetModule
        self.castTarget = castTarget
        if inputModule is not None and inputModule.parameters():
            print("Warning: nn.ModuleCriterion doesn't support parameter updates")

    def _after_load(self):
        for k in ("inputModule", "targetModule"):
            self.__dict__.setdefault(k, None)
        self.__dict__.setdefault("castTarget", True)

    def updateOutput(self, input, target):
        x, t = input, target
        if self.inputModule is not None:
            x = self.input = self.inputModule.forward(input)
        if self.targetModule is not None:
            t = self.target = self.targetModule.forward(target)
        self.output = self.criterion.forward(x, t)
        return self.output

    def updateGradInput(self, input, target):
        x = getattr(self, "input", None) if self.inputModule is not None else input
        t = getattr(self, "target", None) if self.targetModule is not None else target
        if x is None or t is None:
            raise RuntimeError("ModuleCriterion: call forward before backward")
        g = self.criterion.backward(x, t)
        if self.inputModule is not None:
            g = self.inputModule.backward(input, g)
        self.gradInput = g
        return g

    def type(self, type=None, tensorCache=None):  # noqa: A002
        if type is None or self.castTarget or self.targetModule is None:
            return super().type(type, tensorCache)
        keep = self.__dict__.pop("targetModule")
        try:
            return super().type(type, tensorCache)
        finally:
            self.targetModule = keep
