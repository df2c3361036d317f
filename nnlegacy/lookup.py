"""LookupTable (embeddings) and the index helpers of the sparse layers (sparse.py).

Indices are 1-based, as in Lua: LongTensor-like integer arrays (whole-valued floats are
accepted where Lua accepts them); an index outside the table is an IndexError.
"""

from __future__ import annotations

import numpy as np

from . import backend as B
from .module import Module, _size_desc

__all__ = ["LookupTable"]


def _indices(module, x, n, what="input", base=1):
    """``x`` as int64 indices on the module's array module, each in ``base..base+n-1``."""
    name = module._name()
    if not B.is_array(x):
        raise TypeError(f"{name}: expected {what} to be an array of indices, got {type(x)}")
    xp = module._xp
    if B.get_array_module(x) is not xp:
        raise TypeError(
            f"{name}: expected {what} on the module's device ({module._type}), got {B.type_of(x)}"
        )
    if x.dtype.kind not in "iu":
        if x.dtype.kind != "f" or (x.size and not bool(xp.all(x == xp.floor(x)))):
            raise TypeError(
                f"{name}: expected {what} of integer indices (a LongTensor), got {B.type_of(x)}"
            )
    x = x.astype(np.int64, copy=False)
    if x.size:
        lo, hi = int(x.min()), int(x.max())
        if lo < base or hi > base + n - 1:
            bad = lo if lo < base else hi
            hint = " (indices are 1-based)" if base == 1 and bad == 0 else ""
            raise IndexError(
                f"{name}: index out of range: {what} holds {bad}, "
                f"valid indices are {base}..{base + n - 1}{hint}"
            )
    return x


def _ranks(rows):
    """For each entry, how many earlier entries have the same row (0, 1, ...)."""
    xp = B.get_array_module(rows)
    n = rows.shape[0]
    if n == 0:
        return rows
    order = xp.argsort(rows, kind="stable")
    s = rows[order]
    pos = xp.arange(n)
    start = xp.concatenate([xp.ones(1, bool), s[1:] != s[:-1]])
    first = xp.maximum.accumulate(xp.where(start, pos, 0))
    ranks = xp.empty(n, np.int64)
    ranks[order] = pos - first
    return ranks


def _in_turn(rows):
    """Entry groups with distinct rows, in order: applying an update group by group
    equals Lua's entry-by-entry loop even where a row repeats."""
    xp = B.get_array_module(rows)
    ranks = _ranks(rows)
    top = int(ranks.max()) + 1 if ranks.size else 0
    return [xp.nonzero(ranks == r)[0] for r in range(top)]


class LookupTable(Module):
    """Embedding rows picked by 1-based indices: ``output[i] = weight[input[i]]``.

    ``nn.LookupTable(nIndex, nOutput, paddingValue=0, maxNorm=None, normType=None)``;
    ``weight`` is ``nIndex x nOutput`` drawn from N(0, 1). With ``maxNorm``, forward first
    rescales every referenced row whose ``normType``-norm (2 by default) exceeds it by
    ``maxNorm / (norm + 1e-7)``, in place. Rows equal to ``paddingValue`` get no gradient;
    ``scaleGradByFreq()`` divides each row's gradient by its count in the batch.
    Shape: ``(n)`` -> ``(n, nOutput)``, ``(N, n)`` -> ``(N, n, nOutput)``; gradInput is
    zeros of the input's shape and type.
    """

    def __init__(
        self, nIndex: int, nOutput: int, paddingValue: int = 0, maxNorm=None, normType=None
    ):
        super().__init__()
        self.weight = self._zeros(nIndex, nOutput)
        self.gradWeight = self._zeros(nIndex, nOutput)
        self.paddingValue = paddingValue
        self.maxNorm = maxNorm
        self.normType = normType
        self.shouldScaleGradByFreq = False
        self.reset()

    def _after_load(self):
        self.__dict__.setdefault("shouldScaleGradByFreq", False)
        self.__dict__.setdefault("paddingValue", 0)
        self.__dict__.setdefault("maxNorm", None)
        self.__dict__.setdefault("normType", None)

    def reset(self, stdv=None):
        B.normal_(self.weight, 0, 1 if stdv is None else stdv)
        return self

    def accUpdateOnly(self):
        self.gradWeight = None
        return self

    def setPadding(self, paddingValue):
        self.paddingValue = paddingValue
        return self

    def setMaxNorm(self, maxNorm):
        self.maxNorm = maxNorm
        return self

    def setNormType(self, normType):
        self.normType = normType
        return self

    def scaleGradByFreq(self):
        self.shouldScaleGradByFreq = True
        return self

    def _check(self, input):
        idx = _indices(self, input, self.weight.shape[0])
        if idx.ndim not in (1, 2):
            raise ValueError(
                f"{self._name()}: input must be a vector or matrix, got {_size_desc(idx.shape)}"
            )
        return idx

    def renorm(self, input):
        if self.maxNorm is None:
            return
        idx = self._check(input)
        p = 2 if self.normType is None else self.normType
        if p <= 0:
            raise ValueError(f"{self._name()}: non-positive norm type {p} is not supported")
        xp = self._xp
        rows = xp.unique(idx.reshape(-1)) - 1
        w = self.weight[rows]
        if p == 1:
            norm = abs(w).sum(axis=1)
        elif p == 2:
            norm = xp.sqrt((w * w).sum(axis=1))
        else:
            norm = (abs(w) ** p).sum(axis=1) ** (1.0 / p)
        factor = xp.where(norm > self.maxNorm, self.maxNorm / (norm + 1e-7), 1.0)
        self.weight[rows] = w * factor[:, None].astype(w.dtype)

    def updateOutput(self, input):
        idx = self._check(input)
        self.renorm(idx)
        self.output = self.weight[idx - 1]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        gi = self.gradInput
        if not (B.is_array(gi) and gi.shape == input.shape and gi.dtype == input.dtype):
            self.gradInput = B.get_array_module(input).zeros(input.shape, input.dtype)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1):
        idx = self._check(input)
        self._check_grad(gradOutput, idx.shape + (self.weight.shape[1],))
        xp = self._xp
        idx = idx.reshape(-1)
        go = gradOutput.reshape(-1, self.weight.shape[1])
        keep = idx != self.paddingValue
        factor = xp.full(idx.shape, scale, self.weight.dtype)
        if self.shouldScaleGradByFreq:
            counts = xp.bincount(idx, minlength=self.weight.shape[0] + 1)
            factor = factor / counts[idx]
        B.index_add_(self.gradWeight, idx[keep] - 1, go[keep] * factor[keep][:, None])

    def sharedAccUpdateGradParameters(self, input, gradOutput, lr):
        self.defaultAccUpdateGradParameters(input, gradOutput, lr)

    def clearState(self):
        self._clear("_count", "_input")
        return super().clearState()
